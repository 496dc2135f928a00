"""Repository locks, after restic's design: one small object per holder under ``locks/``.

A lock object is plain JSON, not encrypted: host, pid, username, exclusive flag, purpose, created and
expires times (epoch seconds from ``drkit.core.clock``), and where the holder runs (holder.py: machine,
boot and PID namespace ids, the process's start time) -- nothing secret. ``acquire`` writes its own
object with ``put_if_absent`` at ``locks/<32 random hex>``, then lists all locks: any *other* non-stale
lock conflicts if either side is exclusive, and then it deletes its object and raises ``LockFailed``.
Each writes before it looks, so two racing exclusive lockers may both back off but never both win.
A daemon thread refreshes a held lock (``put``, ``expires = now + lifetime``); ``Lock.lost`` turns true
once the expiry passes without a successful refresh, and callers should then not write a snapshot.
A lock is stale if expired, or provably dead: written on this machine, boot and PID namespace by a
process that no longer exists (holder.py); a lock from anywhere else is judged by its expiry alone. Garbled lock
objects are listed, with a logged warning, as stale entries (``host="?"``, ``expires=0``,
``purpose="unreadable lock object"``): they never block, and ``remove_locks`` deletes them.

Three modes: *shared* (backup, restore, check, copy), *exclusive* (key rotate) and *maintenance*
(forget, prune): a maintenance lock conflicts with exclusive locks and with other maintenance locks,
not with shared ones, so backups run while forget and prune do (FORMAT.md §13). Every lock records
its ``view``: the time from which the holder knows of every pending-deletion mark and has read all the
repository state it may still write references to (the creation time, unless ``advance_view`` moves
it on); a lock without one (an older drkit) is taken to know of no mark at all.
"""

from __future__ import annotations

import getpass
import json
import logging
import math
import os
import secrets
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from storage_backends.base import Backend
from storage_backends.errors import AlreadyExists, BackendError, NotFound

from ..core import clock
from ..core.errors import LockFailed
from .holder import Holder, provably_dead, this_process
from .storage_errors import storage_errors

log = logging.getLogger(__name__)

LOCK_PREFIX = "locks/"
_MAX_LOCK_SIZE = 64 * 1024
_READ_AT_ONCE = 8  # lock objects read concurrently
_HINT = "drkit unlock removes stale locks; if the holder is still running, wait for it and try again"


def _clean(text: str) -> str:  # repository-supplied text: one short printable line
    return "".join(c if c.isprintable() else "?" for c in text)[:80]


@dataclass(frozen=True, kw_only=True)
class LockInfo:
    key: str
    host: str
    pid: int
    username: str
    exclusive: bool
    created: float
    expires: float
    purpose: str = ""
    maintenance: bool = False
    view: float | None = None  # None: written by a drkit that knows nothing of pending marks
    holder: Holder = Holder()  # unknown in locks of older drkit versions: judged by expiry only

    def describe(self, now: float) -> str:
        """One line, e.g. ``exclusive lock by root@host pid 123, 42 s old, expires in 1740 s``."""
        kind = "exclusive" if self.exclusive else "maintenance" if self.maintenance else "shared"
        what = f" ({_clean(self.purpose)})" if self.purpose else ""
        who = f"{_clean(self.username)}@{_clean(self.host)} pid {self.pid}"
        left, age = self.expires - now, max(0.0, now - self.created)
        when = f"expires in {left:.0f} s" if left >= 0 else f"expired {-left:.0f} s ago"
        return f"{kind} lock{what} by {who}, {age:.0f} s old, {when}"


def _hostname() -> str:
    return socket.gethostname() or "?"


def _username() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry, no LOGNAME/USER: a lock must still be writable
        return "?"


def is_stale(info: LockInfo, now: float, *, slack: float = 0.0) -> bool:
    """Expired (``slack`` seconds ago), or its holder provably dead: same machine, boot and PID
    namespace as ours, and its process gone (holder.py)."""
    return now > info.expires + slack or provably_dead(info.holder, info.pid)


def why_kept(info: LockInfo) -> str:
    """Why ``unlock`` keeps a lock that has not expired (one phrase)."""
    if info.holder.same_place(this_process()):
        return "its process is running"
    if not info.holder.known:
        return "no holder identity (an older drkit): it may be alive, removable once expired"
    return "held on another host, container or PID namespace: removable once expired"


def conflicts(a: LockInfo | Lock, b: LockInfo) -> bool:
    """Either side exclusive, or both maintenance."""
    return a.exclusive or b.exclusive or (a.maintenance and b.maintenance)


def _field(doc: dict[str, object], name: str, kind: type) -> object:
    value = doc[name]
    if kind is float and type(value) is int:
        value = float(value)
    if type(value) is not kind or (isinstance(value, float) and not math.isfinite(value)):
        raise ValueError(f"field {name!r} is not a valid {kind.__name__}")
    return value


_FIELDS = dict(host=str, pid=int, username=str, exclusive=bool, created=float, expires=float)
_HOLDER_TEXT = ("machine_id", "boot_id", "pid_ns")


def _holder(doc: dict[str, object]) -> Holder:
    """The holder fields; any that is missing or malformed leaves the holder unknown (expiry only)."""
    machine, boot, ns = (doc.get(name) for name in _HOLDER_TEXT)
    start = doc.get("start_time")
    text = (machine, boot, ns)
    if not all(isinstance(t, str) and len(t) <= 100 for t in text) or type(start) is not int:
        return Holder()
    return Holder(str(machine), str(boot), str(ns), start)


def _parse(key: str, body: bytes) -> LockInfo:
    doc = json.loads(body)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    values = {name: _field(doc, name, kind) for name, kind in _FIELDS.items()}
    purpose = doc.get("purpose", "")
    view = float(_field(doc, "view", float)) if "view" in doc else None  # type: ignore[arg-type]
    return LockInfo(
        key=key,
        purpose=purpose if isinstance(purpose, str) else "",
        maintenance=doc.get("maintenance") is True,
        view=view,
        holder=_holder(doc),
        **values,  # type: ignore[arg-type]
    )


def _load(backend: Backend, key: str) -> LockInfo | None:
    try:
        with backend.get(key) as stream:
            body = stream.read(_MAX_LOCK_SIZE)  # a longer object is cut short and fails to parse
    except NotFound:
        return None  # released while we were listing
    try:
        return _parse(key, body)
    except (ValueError, KeyError, RecursionError) as exc:
        log.warning("lock object %s is unreadable (%s); treating it as stale", key, exc)
        return LockInfo(
            key=key,
            host="?",
            pid=0,
            username="?",
            exclusive=False,
            created=0.0,
            expires=0.0,
            purpose="unreadable lock object",
        )


def list_locks(backend: Backend, *, besides: str | None = None) -> list[LockInfo]:
    """All lock objects but ``besides`` (the caller's own: it knows what it wrote); garbled ones come back
    as stale entries (see the module docstring). Several are read concurrently: each is a round trip."""
    with storage_errors():
        keys = [info.key for info in backend.list(LOCK_PREFIX) if info.key != besides]
        if len(keys) <= 1:
            loaded = [_load(backend, key) for key in keys]
        else:
            with ThreadPoolExecutor(min(len(keys), _READ_AT_ONCE), thread_name_prefix="drkit-locks") as pool:
                loaded = list(pool.map(lambda key: _load(backend, key), keys))
        return [info for info in loaded if info is not None]


def remove_locks(backend: Backend, *, all_locks: bool = False) -> list[LockInfo]:
    """Delete stale locks, never one whose holder may be alive (or every lock with ``all_locks``);
    return what was removed."""
    now = clock.now()
    removed = [i for i in list_locks(backend) if all_locks or is_stale(i, now)]
    with storage_errors():
        for info in removed:
            backend.delete(info.key)
    return removed


LIFETIME = 1800.0  # a lock not refreshed for this long is stale
REFRESH_EVERY = 300.0


class Lock:
    """A shared, maintenance or exclusive repository lock; use as ``with Lock(backend, exclusive=False): ...``.
    ``on_acquired`` runs once the lock is held (its failure releases the lock); ``on_written`` as soon as its
    object is stored, before the other locks are listed (reads that must follow the write start there);
    ``on_refused`` if the lock is then not taken (a conflict): nothing it started may run on after."""

    def __init__(  # noqa: PLR0913 - the lock's mode and timing are independent knobs
        self,
        backend: Backend,
        *,
        exclusive: bool,
        maintenance: bool = False,
        lifetime: float = LIFETIME,
        refresh_every: float = REFRESH_EVERY,
        purpose: str = "",
        on_acquired: Callable[[Lock], None] | None = None,
        on_written: Callable[[], None] | None = None,
        on_refused: Callable[[], None] | None = None,
    ) -> None:
        if not 0 < refresh_every < lifetime:
            raise ValueError("need 0 < refresh_every < lifetime")
        self._backend = backend
        self.exclusive = exclusive
        self.maintenance = maintenance and not exclusive
        self.lifetime = lifetime
        self.refresh_every = refresh_every
        self.purpose = purpose
        self.on_acquired = on_acquired
        self.on_written = on_written
        self.on_refused = on_refused  # after ``on_written``, the lock was not taken: stop what it started
        self.key: str | None = None
        self._created = self._expires = self.view = 0.0
        self._lost = False
        self._stop = threading.Event()
        self._mutex = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def lost(self) -> bool:
        """True once the expiry passed without a successful refresh (sticky)."""
        if self.key is not None and not self._lost and clock.now() > self._expires:
            self._lost = True
        return self._lost

    def _body(self, expires: float) -> bytes:
        doc: dict[str, object] = dict(host=_hostname(), pid=os.getpid(), username=_username(), exclusive=self.exclusive)
        holder = this_process()
        if holder.known and holder.start_time >= 0:
            doc.update(
                machine_id=holder.machine_id, boot_id=holder.boot_id, pid_ns=holder.pid_ns, start_time=holder.start_time
            )
        doc.update(created=self._created, expires=expires, purpose=self.purpose, view=self.view)
        if self.maintenance:
            doc["maintenance"] = True
        return json.dumps(doc, sort_keys=True).encode()

    def advance_view(self, view: float) -> None:
        """Record that the holder re-read the pending marks at ``view`` and holds no reference read
        from the repository before it (a long-running archiver between rounds); written at once."""
        self.view = max(self.view, view)
        if self.key is not None:
            self._refresh_once(self.key)

    def acquire(self) -> None:
        """Take the lock or raise ``LockFailed`` naming a conflicting holder."""
        if self.key is not None:
            raise RuntimeError("lock already held")
        key = f"{LOCK_PREFIX}{secrets.token_hex(16)}"
        self._created = self.view = clock.now()
        expires = self._created + self.lifetime
        body = self._body(expires)
        with storage_errors():
            try:
                self._backend.put_if_absent(key, body)
            except AlreadyExists:
                if not self._is_ours(key, body):
                    raise
        try:
            if self.on_written is not None:
                self.on_written()
            self._check_conflicts(key)
        except BaseException:
            try:
                if self.on_refused is not None:
                    self.on_refused()  # before the lock object goes: what ran under it has ended
            finally:  # even if that wait is interrupted (Ctrl-C on a slow read): no lock object left behind
                self._delete(key)
            raise
        self.key, self._expires, self._lost = key, expires, False
        self._stop.clear()
        self._thread = threading.Thread(target=self._refresh_loop, args=(key,), daemon=True)
        self._thread.start()
        if self.on_acquired is not None:
            try:
                self.on_acquired(self)
            except BaseException:
                self.release()
                raise

    def _is_ours(self, key: str, body: bytes) -> bool:
        """A retried create of our random key finds it taken when the first attempt was stored but its
        reply was lost (a timeout): the object is then ours, byte for byte."""
        with self._backend.get(key) as stream:
            return bool(stream.read(_MAX_LOCK_SIZE + 1) == body)

    def _check_conflicts(self, own: str) -> None:
        now = clock.now()
        found = [
            info for info in list_locks(self._backend, besides=own) if conflicts(self, info) and not is_stale(info, now)
        ]
        if found:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            raise LockFailed(f"repository is locked: {found[0].describe(now)}{more}", hint=_HINT)

    def _refresh_loop(self, key: str) -> None:
        while not self._stop.wait(self.refresh_every):
            self._refresh_once(key)

    def _refresh_once(self, key: str) -> None:
        with self._mutex:  # the refresh thread and advance_view
            expires = clock.now() + self.lifetime
            try:
                self._backend.put(key, self._body(expires))
            except Exception as exc:  # the thread must survive anything; BackendError text has no secrets
                detail = str(exc) if isinstance(exc, BackendError) else type(exc).__name__
                log.warning("could not refresh lock %s: %s", key, detail)
                expires = self._expires
            _ = self.lost  # records a loss once the old expiry has passed; a late refresh cannot undo it
            self._expires = expires

    def _delete(self, key: str) -> None:
        try:
            self._backend.delete(key)
        except BackendError as exc:
            log.warning("could not remove lock %s (%s); drkit unlock removes it once stale", key, exc)

    def release(self) -> None:
        """Stop refreshing and delete the lock object; safe to call more than once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        key, self.key = self.key, None
        if key is not None:
            self._delete(key)

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
