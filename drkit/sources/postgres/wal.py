"""The WAL archive: ``wal-push`` (archive_command) and ``wal-fetch`` (restore_command).

Each WAL file is one object of the repository's log archive (``repository.archive``, kind ``WAL``):
``wal/<first 8 hex = timeline>/<file name>``, sealed and bound to its name there. Pushing is
idempotent: if the name exists and its keyed hash equals the new file's, the push succeeds; any
other content under that name fails loudly (and PostgreSQL keeps the file and retries). Pushing
and fetching never load the repository index.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ...core.errors import StorageError, UsageError
from ...repository.archive import LogArchive, LogKind
from ...repository.repo import Repository
from .errors import WalConflict, WalMissing


def _timeline(name: str) -> str:
    return name[:8]


# the log kind of the repository's log archive holding WAL (FORMAT.md §11); under wal/, older than logs/
WAL = LogKind(label="wal", noun="WAL file", prefix="wal/", magic=b"DKW1", aad="drkit/wal/", shard=_timeline)
WAL_PREFIX = WAL.prefix
TIMES_KIND = "wal_archived"  # manifest kind: archive times of copied WAL files (FORMAT.md §11)
MAGIC = WAL.magic
HEADER = WAL.header
_NAME = re.compile(r"^[0-9A-F]{24}(\.partial)?$|^[0-9A-F]{8}\.history$|^[0-9A-F]{24}\.[0-9A-F]{8}\.(backup|partial)$")
_SEGMENT = re.compile(r"^[0-9A-F]{24}$")
# a segment streamed by `drkit pg receive` before it was complete: <segment>.<bytes streamed, 8 hex>.partial
STREAMED = re.compile(r"^[0-9A-F]{24}\.[0-9A-F]{8}\.partial$")
FETCH_ATTEMPTS = 5  # reads of a streamed tail a running receiver keeps replacing


def checked(name: str) -> str:
    """``name`` if it is a WAL file name, else a UsageError."""
    if not _NAME.match(name):
        raise UsageError(f"{name!r} is not a WAL segment, history or backup-label file name")
    return name


def archive(repo: Repository) -> LogArchive:
    """The repository's WAL archive."""
    return LogArchive(repo, WAL)


def wal_key(name: str) -> str:
    return f"{WAL_PREFIX}{checked(name)[:8]}/{name}"


def encode_wal(repo: Repository, name: str, data: bytes) -> bytes:
    return archive(repo).encode(name, data)


def push(repo: Repository, path: Path) -> bool:
    """Archive one WAL file; True if stored now, False if the identical file was already there."""
    name = checked(path.name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    stored = archive(repo).put(name, data)
    if stored == "conflict":
        raise WalConflict(
            f"WAL file {name} is already archived with different content; refusing to overwrite it",
            hint="two clusters may be archiving into one repository (check the system identifier)",
        )
    return stored == "stored"


def fetch(repo: Repository, name: str, dest: Path) -> int:
    """Restore one archived WAL file to ``dest`` (written to a temp name, then renamed)."""
    name, obj = _current(repo, name)
    data = archive(repo).decode(name, obj)
    tmp = dest.with_name(f".{dest.name}.drkit-partial")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return len(data)


def _current(repo: Repository, name: str) -> tuple[str, bytes]:
    """``name`` as archived whole, else (a segment) its longest streamed ``.partial`` (``drkit pg
    receive``) under its own name: recovery replays it up to its last complete record and ends there.
    A running receiver replaces that partial by a longer one, or by the whole segment, and deletes
    it: one gone between the listing and the read is looked up again, never reported missing (which
    PostgreSQL takes for the end of the archive, ending recovery before WAL that is there)."""
    for _ in range(FETCH_ATTEMPTS):
        obj = _get(repo, name)
        if obj is not None:
            return name, obj
        streamed = _streamed(repo, name) if is_segment(name) else []
        if not streamed:  # none, or the whole segment was stored (its partials deleted) since the first read
            obj = _get(repo, name)
            if obj is None:
                raise WalMissing(f"WAL file {name} is not in the archive")
            return name, obj
        obj = _get(repo, streamed[-1])
        if obj is not None:
            return streamed[-1], obj
    raise StorageError(f"the streamed tail of WAL file {name} changed at each of {FETCH_ATTEMPTS} reads")


def _get(repo: Repository, name: str) -> bytes | None:
    return archive(repo).get_object(checked(name))


def _streamed(repo: Repository, segment: str) -> list[str]:
    """The streamed partials of ``segment``, shortest first."""
    found = archive(repo).times(f"{checked(segment)}.")
    return sorted((n for n in found if STREAMED.match(n)), key=lambda n: int(n[25:33], 16))


def exists(repo: Repository, name: str) -> bool:
    return archive(repo).exists(checked(name))


def recorded_times(repo: Repository) -> dict[str, datetime]:
    """WAL file name → when it was archived in the repository it was copied from (``wal_archived``
    documents written by ``drkit copy``; an object's own time there is the time of the copy)."""
    times: dict[str, datetime] = {}
    for _, doc in repo.manifests.find(TIMES_KIND):
        for name, when in doc.get("times", {}).items():
            at = datetime.fromisoformat(when)
            times[name] = min(at, times.get(name, at))
    return times


def archive_times(repo: Repository, starting: str = "") -> dict[str, datetime]:
    """Every archived WAL file whose name starts with ``starting`` (a timeline's 8 hex digits, or
    nothing: all): name → when it was first archived (its object's time, or the earlier time a copy
    recorded)."""
    infos = archive(repo).times(starting)
    recorded = recorded_times(repo) if infos else {}
    return {name: min(mtime, recorded.get(name, mtime)) for name, mtime in infos.items()}


def is_segment(name: str) -> bool:
    """A WAL segment's file name (not a ``.history``, ``.backup`` or ``.partial`` file)."""
    return _SEGMENT.match(name) is not None


def archived_segments(repo: Repository, timeline: int) -> dict[str, datetime]:
    """The archived WAL segments of one timeline: name → when it was archived."""
    times = archive_times(repo, f"{timeline:08X}")
    return {name: when for name, when in times.items() if _SEGMENT.match(name)}


# -- LSNs and segment numbers ------------------------------------------------------------------


def parse_lsn(text: str) -> int:
    try:
        hi, lo = text.strip().split("/")
        return (int(hi, 16) << 32) | int(lo, 16)
    except ValueError:
        raise UsageError(f"{text!r} is not an LSN (like 0/3000028)") from None


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def segment_number(name: str, seg_size: int) -> int:
    per_log = 0x100000000 // seg_size
    return int(name[8:16], 16) * per_log + int(name[16:24], 16)


def segment_name(timeline: int, segno: int, seg_size: int) -> str:
    per_log = 0x100000000 // seg_size
    return f"{timeline:08X}{segno // per_log:08X}{segno % per_log:08X}"


@dataclass(frozen=True, kw_only=True)
class Window:
    """What a base backup can recover to: from its stop LSN to the end of the last contiguous
    archived segment after its start (``end_lsn`` None: even its first segment is missing)."""

    start_lsn: int
    stop_lsn: int
    end_lsn: int | None
    last_segment: str | None
    end_time: datetime | None = None  # when the last contiguous segment was archived

    @property
    def consistent(self) -> bool:
        return self.end_lsn is not None and self.end_lsn >= self.stop_lsn


def window(
    start_lsn: int, stop_lsn: int, timeline: int, seg_size: int, archived: dict[str, datetime] | list[str]
) -> Window:
    times = archived if isinstance(archived, dict) else dict.fromkeys(archived)
    have = {segment_number(n, seg_size): when for n, when in times.items()}
    segno = start_lsn // seg_size
    last = None
    while segno in have:
        last = segno
        segno += 1
    if last is None:
        return Window(start_lsn=start_lsn, stop_lsn=stop_lsn, end_lsn=None, last_segment=None)
    return Window(
        start_lsn=start_lsn,
        stop_lsn=stop_lsn,
        end_lsn=(last + 1) * seg_size,
        last_segment=segment_name(timeline, last, seg_size),
        end_time=have[last],
    )
