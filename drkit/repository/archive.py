"""Log archives owned by the repository: continuous logs (PostgreSQL WAL, MySQL binary logs …) stored
as one name-addressed, sealed object per file, outside packs and the index (a log does not
deduplicate, and its writer, e.g. ``archive_command``, must be fast). Sources append, read, list and
trim their log only through :class:`LogArchive`; nothing above the repository touches ``repo.backend``
for it.

Each log kind fixes its object layout (FORMAT.md §11)::

    <prefix><shard(name)>/<name> = magic || keyed_hash:32 || seal(encryption, codec_byte || body, aad=<aad><name>)

``keyed_hash`` is the repository's keyed BLAKE3 of the plaintext (it reveals nothing without the
key); the codec byte is the blob codec (0 raw, 1 zstd). Objects are written once (``put_if_absent``):
storing a name again with the same content is a no-op, with other content a conflict the caller
reports. Under immutability a deletion of an object still under retention is skipped, never tried.

The repository names no log kind: each is a :class:`LogKind` a source plugin declares (the registry's
``HasLogArchives``), and ``drkit check``, ``copy`` and ``forget`` (the ops and retention layers) hand
the registered kinds down. A new kind keeps its objects under :data:`LOG_ROOT` (``logs/<label>/``), so
``check`` finds a log no installed plugin declares (:func:`unclaimed_logs`) and says so rather than
calling the repository clean; WAL predates that root and keeps ``wal/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from storage_backends import AlreadyExists, NotFound

from ..core.errors import DrkitError, IntegrityError
from ..pipeline import compress, decompress
from .immutability import Trimming
from .repo import Repository
from .storage_errors import storage_errors

Stored = Literal["stored", "present", "conflict"]  # what a put found: new, identical already, different


@dataclass(frozen=True, kw_only=True)
class LogKind:
    """One log's object layout: the key prefix, the shard directory a name goes under, the magic
    bytes and the authenticated-data prefix that binds each object to its name."""

    label: str  # as reports name it: "wal"
    noun: str  # one object, for people: "WAL file"
    prefix: str  # "wal/"
    magic: bytes  # 4 bytes
    aad: str  # "drkit/wal/"
    shard: Callable[[str], str]  # name → the directory under prefix

    def __post_init__(self) -> None:
        if not self.prefix.endswith("/") or len(self.magic) != 4:
            raise ValueError(f"log kind {self.label}: the prefix must end with '/' and the magic be 4 bytes")

    @property
    def header(self) -> int:
        return len(self.magic) + 32


LOG_ROOT = "logs/"  # a log kind's objects: logs/<label>/<shard>/<name> (WAL, older, keeps wal/)


def log_prefix(label: str) -> str:
    """The prefix of a log kind ``label`` under :data:`LOG_ROOT`."""
    if not label or "/" in label:
        raise ValueError(f"log kind label {label!r}: one path segment")
    return f"{LOG_ROOT}{label}/"


def unclaimed_logs(repo: Repository, kinds: Iterable[LogKind]) -> dict[str, int]:
    """Prefix → object count of each log under :data:`LOG_ROOT` that none of ``kinds`` (the installed
    plugins' log kinds) owns: written by a plugin not installed here, so nothing can check it."""
    owned = tuple(k.prefix for k in kinds)
    found: dict[str, int] = {}
    with storage_errors():
        for info in repo.backend.list(LOG_ROOT):
            if not info.key.startswith(owned):
                prefix = LOG_ROOT + info.key[len(LOG_ROOT) :].split("/", 1)[0] + "/"
                found[prefix] = found.get(prefix, 0) + 1
    return found


class LogArchive:
    """One repository's archive of one log kind."""

    def __init__(self, repo: Repository, kind: LogKind) -> None:
        self.repo = repo
        self.kind = kind

    def key(self, name: str) -> str:
        return f"{self.kind.prefix}{self.kind.shard(name)}/{name}"

    def _aad(self, name: str) -> bytes:
        return f"{self.kind.aad}{name}".encode()

    def encode(self, name: str, data: bytes) -> bytes:
        digest = self.repo.hasher.digest(data)
        sealed = self.repo.cipher.seal(compress(data, self.repo.config.compression_level), self._aad(name))
        return self.kind.magic + digest + sealed

    def decode(self, name: str, obj: bytes) -> bytes:
        """The plaintext of object ``obj`` stored as ``name``; IntegrityError if it is not that."""
        magic = self.kind.magic
        if obj[: len(magic)] != magic:
            raise IntegrityError(f"{self.kind.label.upper()} object {name} has an unknown format")
        data = decompress(self.repo.cipher.open(obj[self.kind.header :], self._aad(name)))
        if self.repo.hasher.digest(data) != obj[len(magic) : self.kind.header]:
            raise IntegrityError(f"{self.kind.label.upper()} object {name}: content does not match its hash")
        return data

    def put(self, name: str, data: bytes) -> Stored:
        """Store ``data`` as ``name`` once; an existing object is compared by its keyed hash."""
        obj = self.encode(name, data)
        key = self.key(name)
        with storage_errors():
            try:
                self.repo.backend.put_if_absent(key, obj)
                return "stored"
            except AlreadyExists:
                existing = self.repo.backend.get_range(key, 0, self.kind.header)
        return "present" if existing == obj[: self.kind.header] else "conflict"

    def add(self, name: str, data: bytes) -> bool:
        """Store ``data`` as ``name`` unless some object of that name is there (a streamed tail
        stored again after a restart, a copy repeated); True if stored now."""
        with storage_errors():
            try:
                self.repo.backend.put_if_absent(self.key(name), self.encode(name, data))
            except AlreadyExists:
                return False
        return True

    def get_object(self, name: str) -> bytes | None:
        """The stored object ``name`` as it is (None: not there)."""
        with storage_errors():
            try:
                with self.repo.backend.get(self.key(name)) as f:
                    return f.read()
            except NotFound:
                return None

    def read(self, name: str) -> bytes | None:
        """The plaintext of ``name``, verified (None: not there)."""
        obj = self.get_object(name)
        return None if obj is None else self.decode(name, obj)

    def exists(self, name: str) -> bool:
        with storage_errors():
            try:
                self.repo.backend.stat(self.key(name))
            except NotFound:
                return False
        return True

    def times(self, starting: str = "") -> dict[str, datetime]:
        """Name → object time of every object whose name starts with ``starting`` (all when empty;
        else ``starting`` must be long enough to name its shard)."""
        where = self.kind.prefix if not starting else self.key(starting)
        with storage_errors():
            return {info.key.rsplit("/", 1)[-1]: info.mtime for info in self.repo.backend.list(where)}

    def names(self) -> list[str]:
        return sorted(self.times())

    def locked_until(self, name: str) -> datetime | None:
        return self.repo.locked_until(self.key(name))

    def delete(self, name: str) -> bool:
        """Delete ``name`` unless it is under retention; True if it is gone (or was already)."""
        if self.locked_until(name) is not None:
            return False
        with storage_errors():
            try:
                self.repo.backend.delete(self.key(name))
            except NotFound:
                pass
        return True

    def copy_to(self, target: LogArchive, name: str) -> Stored | None:
        """Copy ``name`` into ``target``, re-sealed with its keys: "stored", "present" (``target`` had
        the same content), "conflict" (``target`` holds other content under that name, left as it is),
        or None if it is gone from here (replaced since a listing)."""
        data = self.read(name)
        if data is None:
            return None
        return target.put(name, data)


# -- what check, copy and forget do to every log, the one way ----------------------------------

Inspect = Callable[[str, bytes], "str | None"]  # (name, plaintext) → what is wrong with it, if anything


def _read_one(logs: LogArchive, name: str, inspect: Inspect | None) -> tuple[str | None, int | None]:
    """(what is wrong with ``name``, the bytes read: None if it is gone)."""
    key = logs.key(name)
    obj = b""
    try:  # an object the storage refuses to hand over is reported like a damaged one, as packs are
        got = logs.get_object(name)
        if got is None:
            return None, None  # removed by a concurrent forget or receiver since the listing
        obj = got
        data = logs.decode(name, obj)
    except DrkitError as exc:
        return f"{logs.kind.noun} {name} ({key}): damaged: {exc.message}", len(obj)
    problem = inspect(name, data) if inspect is not None else None
    return (f"{logs.kind.noun} {name} ({key}) {problem}" if problem else None), len(obj)


def read_back(
    logs: LogArchive, names: list[str], inspect: Inspect | None = None, progress: Callable[[int], None] | None = None
) -> list[str]:
    """``check --read-data`` of a log: each object in ``names`` downloaded, decrypted, authenticated
    against its name and hashed back to its keyed hash, then shown to ``inspect`` (the source's own
    look at its content); one error line per bad object, ``progress`` told the bytes of each object read
    (once per object actually read back: one gone since the listing is not)."""
    errors: list[str] = []
    with ThreadPoolExecutor(2, thread_name_prefix=f"drkit-check-{logs.kind.label}") as pool:
        for problem, size in pool.map(lambda n: _read_one(logs, n, inspect), names):
            if problem is not None:
                errors.append(problem)
            if size is not None and progress is not None:  # not told of one gone since the listing
                progress(size)
    return errors


def plan_trim(logs: LogArchive, needed: Callable[[str], bool], plan: Trimming | None = None) -> Trimming:
    """Retention of a log: every object ``needed`` rejects is to go, unless under retention (then
    kept, with the date its lock ends)."""
    plan = plan if plan is not None else Trimming()
    for name in logs.names():
        if needed(name):
            plan.keep()
        else:
            plan.drop(name, logs.locked_until(name))
    return plan


def trim(logs: LogArchive, plan: Trimming) -> None:
    """Delete what ``plan_trim`` chose (under the repository's maintenance lock)."""
    logs.repo.require_lock(f"delete archived {logs.kind.noun}s")
    for name in plan.removed:
        logs.delete(name)


def copy_log(source: LogArchive, target: LogArchive, names: Iterable[str]) -> tuple[int, set[str], list[str]]:
    """Copy ``names``, re-sealed with the target's keys: (how many were stored, the names the target
    holds now, the names it holds with other content: conflicts, never overwritten). One gone from the
    source since its listing is skipped."""
    copied, present, conflicts = 0, set(), []
    for name in names:
        done = source.copy_to(target, name)
        if done is None:
            continue
        if done == "conflict":
            conflicts.append(name)
            continue
        copied += done == "stored"
        present.add(name)
    return copied, present, conflicts


class LogConflict(IntegrityError):
    """The target of a copy holds log objects under names the source has, with other content."""

    def __init__(self, kind: LogKind, names: list[str]) -> None:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        super().__init__(
            f"{len(names)} {kind.noun}(s) in the target repository differ from the source's under the same "
            f"name, left as they are: {shown}",
            hint="two clusters archiving into one repository? give each cluster its own repository",
        )
        self.names = names


__all__ = [
    "LOG_ROOT",
    "Inspect",
    "LogArchive",
    "LogConflict",
    "LogKind",
    "Stored",
    "copy_log",
    "log_prefix",
    "plan_trim",
    "read_back",
    "trim",
    "unclaimed_logs",
]
