"""Where a named restore point or a transaction's end is in the archived WAL, to choose the base
backup a ``--target-name`` / ``--target-xid`` recovery can start from.

Recovery from a base backup reaches a target only if the target's WAL record lies after the base
backup's stop LSN (before it the cluster is not consistent, and PostgreSQL refuses to stop there).
So the right base backup is the newest one whose stop LSN is at or before the record. drkit does
not see ``pg_create_restore_point()`` or commits happen, so it reads the archived WAL with
``pg_waldump`` (PostgreSQL's own decoder, rather than a hand-written WAL parser): first the stretch
the newest base backup recovers through, then the stretch between each older base backup's end
and the next one's, until the record turns up. Only the segments of the stretch being searched are
fetched, a chunk at a time, into a private temporary directory removed afterwards.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...core.childenv import child_environ
from ...core.errors import UsageError
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from .errors import PostgresError
from .pitr import Target
from .prefetch import prefetch
from .process import find_tool
from .wal import Window, format_lsn, parse_lsn, segment_name

_RECORD = re.compile(r"^rmgr: (\w+)\s.*?tx:\s+(\d+), lsn: ([0-9A-F]+/[0-9A-F]+), .*?desc: (.*)$")
CHUNK_ENV = "DRKIT_WALDUMP_CHUNK"
DEFAULT_CHUNK = 32  # segments fetched and searched at a time
_XACT_END = ("COMMIT", "ABORT")  # recovery_target_xid stops at the transaction's commit or abort
# COMMIT PREPARED / ROLLBACK PREPARED: the record's own xid (``tx:``) is that of the session that
# finished it (0); the prepared transaction's xid is in the description, where PostgreSQL looks too
_PREPARED_END = re.compile(r"^(?:COMMIT|ABORT)_PREPARED (\d+):")


@dataclass(frozen=True)
class Located:
    base: Snapshot
    lsn: int  # where the target's record starts

    def explain(self, target: Target) -> str:
        return (
            f"{target.describe()} is at WAL location {format_lsn(self.lsn)}: base backup {self.base.short_id} "
            f"(ended at {self.base.meta['stop_lsn']}) is the newest that ends before it"
        )


def _matches(target: Target, line: str) -> int | None:
    m = _RECORD.match(line)
    if m is None:
        return None
    rmgr, xid, lsn, desc = m.groups()
    if target.kind == "name" and rmgr == "XLOG" and desc == f"RESTORE_POINT {target.value}":
        return parse_lsn(lsn)
    if target.kind == "xid" and rmgr == "Transaction" and _ends_xid(xid, desc, target_xid(target.value)):
        return parse_lsn(lsn)
    return None


def target_xid(value: str) -> int:
    """The transaction id PostgreSQL reads from ``recovery_target_xid``: its low 32 bits (an
    epoch-qualified ``txid_current()`` value names the same transaction)."""
    return int(value) & 0xFFFFFFFF


def _ends_xid(record_xid: str, desc: str, xid: int) -> bool:
    prepared = _PREPARED_END.match(desc)
    if prepared is not None:
        return int(prepared.group(1)) == xid
    return int(record_xid) == xid and desc.startswith(_XACT_END)


def _scan(wal_dir: Path, timeline: int, span: tuple[int, int], target: Target, read_to: int) -> int | None:
    """The first record of ``target`` starting in ``span`` [start, end) of the WAL files in
    ``wal_dir``, reading up to ``read_to`` (pg_waldump shows no record that crosses its end)."""
    start, end = span
    args = [
        find_tool("pg_waldump"),
        "--path",
        str(wal_dir),
        "--timeline",
        str(timeline),
        "--start",
        format_lsn(start),
        "--end",
        format_lsn(read_to),
    ]
    # no --xid filter: it matches the record's own xid, which a COMMIT PREPARED's is not (_PREPARED_END)
    args += ["--rmgr", "XLOG" if target.kind == "name" else "Transaction"]
    # the exit code is not checked: pg_waldump reports an error at the end of the WAL it was given
    # (a segment's unused tail), after printing every record before it. Its output holds restore
    # point names in the server's encoding (LATIN1, …): bytes that are not UTF-8 are replaced
    try:
        proc = subprocess.run(
            args, capture_output=True, text=True, errors="replace", check=False, timeout=600, env=child_environ()
        )
    except OSError as exc:
        raise PostgresError(f"cannot run pg_waldump: {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise PostgresError("pg_waldump did not finish within 600 s") from None
    for line in proc.stdout.splitlines():
        found = _matches(target, line)
        if found is not None and start <= found < end:
            return found
    return None


@dataclass(frozen=True)
class Stretch:
    """WAL [start, end) that base backup ``base`` (and no newer one) recovers through; its archived
    WAL reaches ``reach`` (at least ``end``)."""

    base: Snapshot
    start: int
    end: int
    reach: int


def _stretches(bases: list[Snapshot], window_of: Callable[[Snapshot], Window]) -> list[Stretch]:
    """Newest first."""
    out = []
    upper: int | None = None
    for base in reversed(bases):
        stop, reach = parse_lsn(base.meta["stop_lsn"]), window_of(base).end_lsn
        if reach is not None and reach > stop:
            out.append(Stretch(base, stop, min(reach, upper) if upper is not None else reach, reach))
        upper = stop if upper is None else min(upper, stop)
    return [s for s in out if s.end > s.start]


def locate(
    repo: Repository, bases: list[Snapshot], target: Target, window_of: Callable[[Snapshot], Window]
) -> Located | None:
    """The newest base backup (of ``bases``, oldest first) that ends before ``target``'s record, and
    the record's LSN; None when the archived WAL after every base backup's end lacks the record."""
    if target.kind == "xid" and not target.value.isdigit():
        raise UsageError(f"--target-xid {target.value!r} is not a transaction id (a number)")
    for stretch in _stretches(bases, window_of):
        lsn = _search(repo, stretch, target)
        if lsn is not None:
            return Located(stretch.base, lsn)
    return None


def _search(repo: Repository, stretch: Stretch, target: Target) -> int | None:
    """The first record of ``target`` starting in the stretch, read ``DRKIT_WALDUMP_CHUNK`` (32)
    segments at a time, each chunk with the next archived segment too, so that a record crossing
    the chunk's end is read whole (the disk holds at most one chunk and one segment)."""
    timeline, seg_size = int(stretch.base.meta["timeline"]), int(stretch.base.meta["wal_segment_size"])
    first, last, reach = stretch.start // seg_size, (stretch.end - 1) // seg_size, stretch.reach // seg_size
    with tempfile.TemporaryDirectory(prefix="drkit-waldump-") as tmp:
        where = Path(tmp)
        chunk = max(1, int(os.environ.get(CHUNK_ENV, DEFAULT_CHUNK)))
        for lo in range(first, last + 1, chunk):
            hi = min(lo + chunk, last + 1)  # records starting in segments [lo, hi)
            upto = min(hi + 1, reach)  # segments [lo, upto) are fetched
            for old in where.iterdir():
                old.unlink()
            prefetch(repo, [segment_name(timeline, s, seg_size) for s in range(lo, upto)], where)
            span = (max(stretch.start, lo * seg_size), min(stretch.end, hi * seg_size))
            lsn = _scan(where, timeline, span, target, upto * seg_size)
            if lsn is not None:
                return lsn
    return None
