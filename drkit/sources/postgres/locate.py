"""Where a named restore point or a transaction's end is in the archived WAL, to choose the base
backup a ``--target-name`` / ``--target-xid`` recovery can start from.

Recovery from a base backup reaches a target only if the target's WAL record lies after the base
backup's stop LSN (before it the cluster is not consistent, and PostgreSQL refuses to stop there).
So the right base backup is the newest one whose stop LSN is at or before the record. drkit does
not see ``pg_create_restore_point()`` or commits happen, so it reads the archived WAL with
``pg_waldump`` (PostgreSQL's own decoder, rather than a hand-written WAL parser): first the stretch
the newest base backup recovers through, then the stretch between each older base backup's end
and the next one's, until the record turns up. Only the segments of the stretch being searched are
fetched, into a private temporary directory removed afterwards.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...core.errors import UsageError
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from .pitr import Target
from .prefetch import prefetch
from .process import find_tool
from .wal import Window, format_lsn, parse_lsn, segment_name

_RECORD = re.compile(r"^rmgr: (\w+)\s.*?tx:\s+(\d+), lsn: ([0-9A-F]+/[0-9A-F]+), .*?desc: (.*)$")
_XACT_END = ("COMMIT", "ABORT")  # recovery_target_xid stops at the transaction's commit or abort


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
    if target.kind == "xid" and rmgr == "Transaction" and xid == target.value and desc.startswith(_XACT_END):
        return parse_lsn(lsn)
    return None


def _scan(wal_dir: Path, timeline: int, start: int, end: int, target: Target) -> int | None:
    """The first record of ``target`` in [start, end) of the WAL files in ``wal_dir``."""
    args = [
        find_tool("pg_waldump"),
        "--path",
        str(wal_dir),
        "--timeline",
        str(timeline),
        "--start",
        format_lsn(start),
        "--end",
        format_lsn(end),
    ]
    args += ["--rmgr", "XLOG"] if target.kind == "name" else ["--rmgr", "Transaction", "--xid", target.value]
    # the exit code is not checked: pg_waldump reports an error at the end of the WAL it was given
    # (a segment's unused tail), after printing every record before it
    proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=600)
    for line in proc.stdout.splitlines():
        found = _matches(target, line)
        if found is not None:
            return found
    return None


def _stretches(bases: list[Snapshot], window_of: Callable[[Snapshot], Window]) -> list[tuple[Snapshot, int, int]]:
    """(base, from, to) newest first: what only that base backup (of those newer) can recover through."""
    out = []
    upper: int | None = None
    for base in reversed(bases):
        stop, end = parse_lsn(base.meta["stop_lsn"]), window_of(base).end_lsn
        if end is not None and end > stop:
            out.append((base, stop, min(end, upper) if upper is not None else end))
        upper = stop if upper is None else min(upper, stop)
    return [s for s in out if s[2] > s[1]]


def locate(
    repo: Repository, bases: list[Snapshot], target: Target, window_of: Callable[[Snapshot], Window]
) -> Located | None:
    """The newest base backup (of ``bases``, oldest first) that ends before ``target``'s record, and
    the record's LSN; None when the archived WAL after every base backup's end lacks the record."""
    if target.kind == "xid" and not target.value.isdigit():
        raise UsageError(f"--target-xid {target.value!r} is not a transaction id (a number)")
    with tempfile.TemporaryDirectory(prefix="drkit-waldump-") as tmp:
        for base, start, end in _stretches(bases, window_of):
            timeline, seg_size = int(base.meta["timeline"]), int(base.meta["wal_segment_size"])
            names = [segment_name(timeline, s, seg_size) for s in range(start // seg_size, (end - 1) // seg_size + 1)]
            prefetch(repo, [n for n in names if not (Path(tmp) / n).exists()], Path(tmp))
            lsn = _scan(Path(tmp), timeline, start, end, target)
            if lsn is not None:
                return Located(base, lsn)
    return None
