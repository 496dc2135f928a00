"""The Repository facade: create or open a repository, and hand out what consumers need.

Consumers (writer, reader, check, sources) get the backend, the cipher, the blob hasher, the
config, the index and the manifest store from here; each declares its own small Protocol of
what it uses. The repository is handed a Backend; it never opens one from a URL.

Two-phase prune (docs/FORMAT.md §13): the index is loaded with the pending-deletion marks, whose
packs are ``index.excluded`` (writers never reference a blob found only there). ``open`` does not read
it: it is read once a lock is written (or on first use without a lock), so what the process uses is at
least as new as its lock's ``view``; an index read before a lock is re-checked when the lock is taken
(marks listed again, the index reloaded if one appeared or went). Manifest writes and deletes are
refused once a held lock is lost (not refreshed for its lifetime): a prune may already treat it as gone.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar, overload

from storage_backends import Backend, NotFound

from ..core import clock
from ..core.concurrency import Plan, Tuning, plan
from ..core.errors import IntegrityError, LockLost, RepositoryExists, RepositoryMissing
from ..pipeline import BlobHasher, Cipher
from .ahead import Ahead, check
from .caps import MAX_CONFIG, MAX_INDEX, read_capped
from .format import AAD_CONFIG, CONFIG_KEY, INDEX_PREFIX, KEYS_PREFIX, RepoConfig, id_from_key
from .immutability import RetainingBackend, Retention, first_locked_write, locked_until, require_object_lock
from .index import Index, RawPack, decode_raw
from .keys import PRIVATE, KdfParams, MasterKey, wrap_master_key
from .locks import Lock
from .manifests import ManifestStore
from .marks import (
    PENDING_KIND,
    Mark,
    Superseded,
    marked_packs,
    pending_indexes,
    read_marks,
    read_superseded,
)
from .reserve import MaintenanceLock, ReaderLock, create_reserve
from .storage_errors import storage_errors
from .traced import traced
from .unlock import unlock, write_record

log = logging.getLogger("drkit.repository")
# shared-lock purposes that write nothing to the repository: on a full storage they read without a lock
# object (reserve.ReaderLock). A shared lock for forget or prune is their --dry-run (else: maintenance)
_READERS = frozenset({"restore", "check", "forget", "prune", "mount"})
_LOAD_ATTEMPTS = 5  # an index object may vanish under a concurrent prune: list again
T = TypeVar("T")
_FETCH_WINDOW = 32 << 20  # sealed index bytes in flight while loading (at least one object)


class _Vanished(Exception):
    pass


@dataclass(frozen=True)
class _View:
    """What an index load starts from: superseded records, pending marks, listed index objects (id → size)."""

    superseded: Superseded
    marks: dict[str, Mark]
    listed: dict[str, int]


class _Loaded(Generic[T]):
    """An attribute of the loaded index (the index, its object ids, marks...): reading it first loads an
    index that ``Repository.open`` left due, so no reader ever sees the empty one."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.private = "_" + name

    @overload
    def __get__(self, repo: None, owner: type) -> _Loaded[T]: ...
    @overload
    def __get__(self, repo: Repository, owner: type) -> T: ...
    def __get__(self, repo: Repository | None, owner: type) -> _Loaded[T] | T:
        if repo is None:
            return self
        repo._ensure_index()
        value: T = getattr(repo, self.private)
        return value

    def __set__(self, repo: Repository, value: T) -> None:
        setattr(repo, self.private, value)


class Repository:
    def __init__(self, backend: Backend, config: RepoConfig, master: MasterKey, key_id: str) -> None:
        self.retention = Retention.of(config)
        backend = traced(backend)  # sampled storage-call spans when tracing is on; else the backend itself
        self.backend: Backend = backend if self.retention is None else RetainingBackend(backend, self.retention)
        self.config = config
        self._index = Index()
        self._index_due = False  # open(load_index=True): loaded when a lock is taken or on first use
        self._index_mutex = threading.Lock()
        self._loader: int | None = None  # the thread loading a due index (its own reads do not wait)
        self._index_ids: set[str] = set()  # the index objects ``index`` was loaded from
        # index objects that are junk or damaged (id → why), skipped with a warning; `check` reports them
        self._skipped_indexes: dict[str, str] = {}
        self._marks: dict[str, Mark] = {}  # pending-deletion marks known when the index was loaded
        self._superseded = Superseded()
        self._index_loaded = False
        self._locks: list[Lock] = []
        self.tuning = Tuning()  # the config's worker and connection counts (the command line's win)
        self.use_master(master, key_id)

    index: _Loaded[Index] = _Loaded()
    index_ids: _Loaded[set[str]] = _Loaded()
    skipped_indexes: _Loaded[dict[str, str]] = _Loaded()
    marks: _Loaded[dict[str, Mark]] = _Loaded()
    superseded: _Loaded[Superseded] = _Loaded()

    def _ensure_index(self) -> None:
        if self._index_due and self._loader != threading.get_ident():
            self._load_due_index()

    def _load_due_index(self, view: _View | None = None) -> None:
        with self._index_mutex:
            if self._index_due:
                self._loader = threading.get_ident()
                try:
                    self.load_index(view)
                finally:
                    self._loader = None

    def concurrency(self) -> Plan:
        """Threads and requests in flight for this repository's store (core/concurrency.py)."""
        caps = self.backend.capabilities
        return plan(remote=caps.remote, pack_size=self.config.pack_size, configured=self.tuning)

    def use_master(self, master: MasterKey, key_id: str) -> None:
        """Seal with ``master`` from now on (after a key rotation); opened through ``key_id``."""
        self.master = master
        self.key_id = key_id
        self.cipher = master.cipher()
        self.hasher = BlobHasher(master.blob_id)
        self.manifests = ManifestStore(self.backend, self.cipher, guard=self.require_lock)

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def init(
        cls,
        backend: Backend,
        passphrase: str,
        config: RepoConfig | None = None,  # noqa: PLR0913
        kdf: KdfParams | None = None,
        reserve: int = 0,
        reserve_required: bool = True,
    ) -> Repository:
        """Create a repository: the space reserve (``reserve`` bytes, reserve.py; left out if it does not fit
        unless ``reserve_required``), a fresh master key, one key object, the sealed config. An immutable
        repository gets no reserve (it must be deletable)."""
        config = config or RepoConfig()
        retention = Retention.of(config)
        if retention is not None:
            require_object_lock(backend)
        with storage_errors():
            if _exists(backend):
                raise RepositoryExists(f"{backend.display} already holds a drkit repository")
            if reserve > 0 and retention is None:
                create_reserve(backend, reserve, required=reserve_required)  # first: before any other object
            master = MasterKey.generate()
            key_id = secrets.token_hex(16)
            key_object = wrap_master_key(master, passphrase, kdf)
            store: Backend = backend
            if retention is None:
                backend.put_if_absent(KEYS_PREFIX + key_id, key_object, PRIVATE)
            else:  # proves the bucket applies retention before anything else is written
                store = RetainingBackend(backend, retention)
                first_locked_write(store, KEYS_PREFIX + key_id, key_object, PRIVATE)
            sealed = Cipher(master.encryption).seal(config.to_json(), AAD_CONFIG)
            store.put_if_absent(CONFIG_KEY, sealed)  # last: a repository exists once config does
        return cls(backend, config, master, key_id)

    @classmethod
    def open(cls, backend: Backend, passphrase: str, *, load_index: bool = True) -> Repository:
        """Open with ``passphrase``: WrongPassword if no key object opens, RepositoryMissing if
        there is no repository at all."""
        with storage_errors():
            with ThreadPoolExecutor(1, thread_name_prefix="drkit-open") as pool:  # two reads, one round trip
                keys = pool.submit(lambda: [info.key for info in backend.list(KEYS_PREFIX)])
                try:
                    sealed_config = read_capped(backend, CONFIG_KEY, MAX_CONFIG)
                except NotFound:
                    raise RepositoryMissing(
                        f"no drkit repository at {backend.display}", hint="create one with `drkit init`"
                    ) from None
                listed_keys = keys.result()
            if not listed_keys:  # listed alongside the config read: an init that wrote its key after the
                # listing and its config (last) before the read is seen again, not called a wrong passphrase
                listed_keys = [info.key for info in backend.list(KEYS_PREFIX)]
            master, key_id, unrecorded = unlock(backend, passphrase, listed_keys)
        try:
            config = RepoConfig.from_json(master.cipher().open(sealed_config, AAD_CONFIG))
        except (IntegrityError, ValueError, KeyError, TypeError):
            raise IntegrityError("config object fails authentication (damaged repository config)") from None
        repo = cls(backend, config, master, key_id)
        if unrecorded:  # retention applies (repo.backend): a record under Object Lock cannot be deleted
            write_record(repo.backend, master, best_effort=True)
        # Not read now: a command that locks next (a backup) reads it once its lock is written, as §13 of
        # docs/FORMAT.md asks anyway; reading it here too cost a second listing of marks and index/.
        repo._index_due = load_index
        return repo

    def load_index(self, view: _View | None = None) -> None:
        """Read the pending marks, then every index object (superseded ones skipped); a damaged one is an
        IntegrityError naming it. An object deleted while we read (a concurrent prune replaced it)
        means listing again. ``view``: the marks and listing just read by the caller, used once."""
        for _ in range(_LOAD_ATTEMPTS):
            try:
                self._load_index_once(view or self._read_view())
                return
            except _Vanished:
                view = None
                continue
        raise IntegrityError(
            "index objects kept disappearing while being read (a prune replacing them?)", hint="try again"
        )

    def _read_view(self, stop: threading.Event | None = None) -> _View:
        """The superseded records and the pending marks, then the index listing: in this order, so no
        index object a prune wrote after the marks were read can be missed. The two listings are made
        together (one round trip; why that is safe: docs/repository-safety.md, "Round trips"). ``stop``
        (a lock refused while this was read ahead, ahead.py) ends it between its steps."""
        with ThreadPoolExecutor(1, thread_name_prefix="drkit-view") as pool:
            pending = pool.submit(self.manifests.ids, PENDING_KIND)
            superseded = read_superseded(self.manifests)
            check(stop)
            marks = read_marks(self.manifests, superseded.marks, ids=pending.result())
        check(stop)
        with storage_errors():
            listed = {id_from_key(i.key): i.size for i in self.backend.list(INDEX_PREFIX)}
        return _View(superseded, marks, listed)

    def _load_index_once(self, view: _View) -> None:
        superseded, marks, listed = view.superseded, view.marks, view.listed
        pending = pending_indexes(marks.values())
        ids = sorted((i for i in listed if i not in superseded.indexes), key=lambda i: (i in pending, i))
        index = Index()
        index.excluded = marked_packs(marks.values())
        for index_id, packs in self.fetch_indexes(ids, listed):
            for pack in packs:
                index.add_raw(pack, index_id)
        index.hash_pending()  # builds the lookup table now, not in the first lookup
        usable = set(ids) - self._skipped_indexes.keys()  # a skipped object is not retired by a prune
        self._index, self._index_ids, self._marks, self._superseded = index, usable, marks, superseded
        self._index_loaded, self._index_due = True, False

    def fetch_indexes(self, ids: list[str], sizes: dict[str, int] | None = None) -> Iterator[tuple[str, list[RawPack]]]:
        """Download and decode index objects in order, in parallel but with at most ``_FETCH_WINDOW``
        bytes (or one object) in flight: memory stays bounded however large the index is."""

        def fetch(index_id: str) -> list[RawPack]:
            try:
                with storage_errors():
                    try:
                        sealed = read_capped(self.backend, INDEX_PREFIX + index_id, MAX_INDEX)
                    except NotFound:
                        raise _Vanished(index_id) from None
                return decode_raw(sealed, self.cipher, index_id)
            except IntegrityError as exc:  # junk or damage: its blobs are unknown, the rest still works
                self._skip_index(index_id, exc.message)
                return []

        workers = max(1, min(self.concurrency().reads, self.backend.capabilities.max_connections))
        with ThreadPoolExecutor(workers, thread_name_prefix="drkit-index") as pool:
            window: deque[tuple[str, int, Future[list[RawPack]]]] = deque()
            try:
                for index_id in ids:
                    size = (sizes or {}).get(index_id, 0)
                    while window and (len(window) >= workers or sum(w[1] for w in window) + size > _FETCH_WINDOW):
                        done_id, _, fut = window.popleft()
                        yield done_id, fut.result()
                    window.append((index_id, size, pool.submit(fetch, index_id)))
                while window:
                    done_id, _, fut = window.popleft()
                    yield done_id, fut.result()
            finally:
                for _, _, fut in window:
                    fut.cancel()

    def _skip_index(self, index_id: str, why: str) -> None:
        if index_id not in self._skipped_indexes:  # in a fetch thread: not through the loading attribute
            log.warning("skipped index object %s: %s", index_id[:16], why)
        self._skipped_indexes[index_id] = why

    def load_new_indexes(self) -> int:
        """Add the index objects written since the index was loaded (by a backup that finished
        meanwhile); returns how many. Their packs join ``index`` like the others'."""
        with storage_errors():
            listed = {id_from_key(i.key): i.size for i in self.backend.list(INDEX_PREFIX)}
        new = sorted(i for i in listed if i not in self.index_ids and i not in self.superseded.indexes)
        try:
            for index_id, packs in self.fetch_indexes(new, listed):
                for pack in packs:
                    self.index.add_raw(pack, index_id)
                if index_id not in self.skipped_indexes:
                    self.index_ids.add(index_id)
        except _Vanished as gone:
            raise IntegrityError(
                f"index object {gone} disappeared while being read (another prune?)", hint="try again"
            ) from None
        return len(new)

    def refresh_marks(self, view: _View | None = None) -> None:
        """After a lock is taken: reload the index if it is older than the lock, i.e. if a mark appeared
        or went, or an index object read is gone or superseded (a prune ran between the load and the
        lock: what was read may name packs that are pending deletion, or deleted). ``view``: one read
        after the lock was written (``lock``'s read ahead)."""
        if not self._index_loaded:
            return
        view = view or self._read_view()
        if set(view.marks) != set(self.marks) or not self.index_ids <= view.listed.keys() - view.superseded.indexes:
            self.load_index(view)  # from what was just read: no second round of reads

    def renew_view(self, lock: Lock) -> None:
        """For a long-running holder between rounds of work: re-read the marks, then advance the
        lock's view (it holds no reference read before now)."""
        now = clock.now()
        self.refresh_marks()
        lock.advance_view(now)

    def require_lock(self, what: str) -> None:
        """Refuse a manifest write or delete once a lock this repository took has been lost."""
        if any(lock.key is not None and lock.lost for lock in self._locks):
            raise LockLost(
                f"the repository lock was lost (not refreshed for its lifetime); will not {what}",
                hint="check the repository's storage and run the command again",
            )

    def _on_locked(self, lock: Lock, view: _View | None = None) -> None:
        self._locks = [held for held in self._locks if held.key is not None]
        self._locks.append(lock)
        if self._index_due:
            self._load_due_index(view)  # the lock is written: this view is at least as new as it
        elif self._index_loaded:
            self.refresh_marks(view)

    def locked_until(self, key: str) -> datetime | None:
        """When object ``key``'s retention ends, if it is still locked (always None without immutability)."""
        if self.retention is None:
            return None
        with storage_errors():
            return locked_until(self.backend, key, self.retention)

    def lock(self, *, exclusive: bool = False, maintenance: bool = False, purpose: str = "") -> Lock:
        """A shared, maintenance (forget, prune) or exclusive lock; see locks.py."""
        kind = (
            MaintenanceLock
            if maintenance and not exclusive  # it holds the space reserve (reserve.py)
            else ReaderLock
            if not exclusive and purpose in _READERS
            else Lock
        )  # reads on a full disk
        ahead: Ahead[_View] = Ahead()

        def written() -> None:  # the view is read alongside the lock listing: one round trip, not two
            if self._index_due or self._index_loaded:
                ahead.start(self._read_view)

        def acquired(lock: Lock) -> None:
            self._on_locked(lock, ahead.take())

        return kind(
            self.backend,
            exclusive=exclusive,
            maintenance=maintenance,
            purpose=purpose,
            on_acquired=acquired,
            on_written=written,
            on_refused=ahead.cancel,
        )

    def close(self) -> None:
        self.backend.close()


def _exists(backend: Backend) -> bool:
    try:
        backend.stat(CONFIG_KEY)
    except NotFound:
        return False
    return True
