"""Binary-log archive: every *closed* binary log of the server, fetched over the client protocol
(``mariadb-binlog --read-from-remote-server --raw``) and stored once as a stream snapshot of source
kind ``mysql-binlog`` (so a job's retention of its dumps never forgets one; drop them with
``drkit forget`` by hand).

One ``archive`` run: note the server's time, ``FLUSH BINARY LOGS`` (the log being written is
closed: every event committed before the noted time is now in a closed log), then store each
closed log the archive lacks, oldest first. Each snapshot records that noted time as ``covers_until``:
a point-in-time restore to a later time is refused until a later run has archived further.

Needs the ``RELOAD`` (or ``BINLOG ADMIN``) and ``REPLICATION SLAVE`` privileges. A log the server
purged before it was archived leaves a gap that a restore across it detects and refuses."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ...repository import snapshots
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ...repository.streams import SourceRef, backup_stream
from .conn import MysqlConn
from .dump import server_time
from .errors import MysqlUsage
from .process import query, run

KIND = "mysql-binlog"
_NUMBERED = re.compile(r"^(?P<base>.+)\.(?P<n>\d+)$")


@dataclass(frozen=True)
class ArchiveOutcome:
    stored: list[str]  # log names stored by this run
    covers_until: str  # UTC time: every event before it is archived


def archived(repo: Repository, name: str) -> dict[str, Snapshot]:
    """Log name → its snapshot, for source ``name``."""
    found = [s for s in snapshots.load_all(repo.manifests) if s.source_kind == KIND and s.source_name == name]
    return {s.meta["file"]: s for s in found}


def covered_until(repo: Repository, name: str) -> float | None:
    """Unix time before which every event of source ``name`` is archived (None: no log archived)."""
    times = []
    for snap in archived(repo, name).values():
        try:
            times.append(datetime.fromisoformat(snap.meta["covers_until"]).timestamp())
        except (KeyError, TypeError, ValueError):  # not written by this drkit: left out, never fatal
            continue
    return max(times, default=None)


def archive_binlogs(repo: Repository, conn: MysqlConn, name: str) -> ArchiveOutcome:
    """Store every closed binary log the archive of ``name`` lacks."""
    if query(conn, "SELECT @@log_bin")[0][0] != "1":
        raise MysqlUsage(
            f"binary logging is off on {conn.display}: nothing to archive",
            hint="start the server with log_bin (and binlog_format=ROW)",
        )
    with repo.lock(purpose="backup"):
        before = server_time(conn)
        query(conn, "FLUSH BINARY LOGS")
        logs = [row[0] for row in query(conn, "SHOW BINARY LOGS")][:-1]  # the last one is being written
        have = archived(repo, name)
        stored = []
        with tempfile.TemporaryDirectory(prefix="drkit-binlog-") as tmp:
            for log in logs:
                if log not in have:
                    _store(repo, conn, name, log, Path(tmp), before)
                    stored.append(log)
    return ArchiveOutcome(stored, before)


def _store(repo: Repository, conn: MysqlConn, name: str, log: str, tmp: Path, covers_until: str) -> Snapshot:
    run("binlog", conn, ["--read-from-remote-server", "--raw", f"--result-file={tmp}/", log])
    path = tmp / log
    meta = {
        "mode": "binlog",
        "file": log,
        "server": conn.display,
        "covers_until": covers_until,
        "size": path.stat().st_size,
    }
    with open(path, "rb") as readable:
        snap = backup_stream(repo, SourceRef(KIND, name, [], meta), readable)
    path.unlink()
    return snap


def log_number(log: str) -> tuple[str, int]:
    found = _NUMBERED.match(log)
    if found is None:
        raise MysqlUsage(f"unexpected binary log name {log!r} (expected BASENAME.NNNNNN)")
    return found["base"], int(found["n"])


def chain(have: dict[str, Snapshot], first: str) -> list[Snapshot]:
    """The archived logs from ``first`` on, in order; refused if ``first`` is missing or a log in the
    middle is (the server purged it before it was archived)."""
    base, start = log_number(first)
    numbered = sorted((log_number(log)[1], snap) for log, snap in have.items() if log_number(log)[0] == base)
    logs = [snap for n, snap in numbered if n >= start]
    expected = start
    for snap in logs:
        number = log_number(snap.meta["file"])[1]
        if number != expected:
            raise MysqlUsage(f"binary log {base}.{expected:06d} is not in the archive: no restore can cross it")
        expected += 1
    if not logs:
        raise MysqlUsage(f"binary log {first} is not in the archive yet", hint="run `drkit mysql binlog-archive` first")
    return logs


def unneeded(repo: Repository, name: str) -> list[Snapshot] | None:
    """The archived logs of ``name`` older than the log the oldest ``--pitr`` dump of ``name`` starts
    from: no point-in-time restore can use them. None when there is no --pitr dump (nothing is
    called unneeded then: the archive may be waiting for its first dump)."""
    dumps = [
        s
        for s in snapshots.load_all(repo.manifests)
        if s.source_kind == "mysql" and s.source_name == name and "binlog" in s.meta
    ]
    if not dumps:
        return None
    firsts = [log_number(d.meta["binlog"]["file"]) for d in dumps]
    by_base: dict[str, int] = {}
    for base, number in firsts:
        by_base[base] = min(number, by_base.get(base, number))
    old = []
    for log, snap in archived(repo, name).items():
        base, number = log_number(log)
        if base in by_base and number < by_base[base]:
            old.append(snap)
    return sorted(old, key=lambda s: log_number(s.meta["file"]))
