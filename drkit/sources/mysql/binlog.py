"""Binary-log archive: every *closed* binary log of the server, fetched over the client protocol
(``mariadb-binlog --read-from-remote-server --raw``) and stored once in the repository's log archive
(``binlog_log``: in parts, then a reach marker), where ``drkit forget`` trims it with the ``--pitr``
dumps kept, ``drkit copy`` carries it and ``drkit check`` reads it back.

One ``archive`` run: note the server's time, ``FLUSH BINARY LOGS`` (the log being written is
closed: every event committed before the noted time is now in a closed log), then store each
closed log the archive lacks, oldest first, and a marker recording that noted time as the reach of
the newest closed log: a point-in-time restore to a later time is refused until a later run has
archived further.

Repositories written before the log archive hold each log as a stream snapshot of source kind
``mysql-binlog`` (meta ``file`` and ``covers_until``); they are read as before, and a chain may run
from those into the log archive. ``drkit mysql binlog-unneeded`` lists the old ones no restore can use.

Needs the ``RELOAD`` (or ``BINLOG ADMIN``) and ``REPLICATION SLAVE`` privileges. A log the server
purged before it was archived leaves a gap that a restore across it detects and refuses."""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from ...core.errors import IntegrityError
from ...repository import snapshots
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ...repository.streams import restore_stream
from .binlog_log import OLD_KIND, PART, archive, checked_file, marker_name, part_name, source_names
from .conn import MysqlConn
from .dump import server_time
from .errors import MysqlUsage
from .identity import HEAD_BYTES, head_of_log, same_server
from .process import query, run

KIND = OLD_KIND  # the old form: one stream snapshot per log
_NUMBERED = re.compile(r"^(?P<base>.+)\.(?P<n>\d+)$")


@dataclass(frozen=True)
class ArchiveOutcome:
    stored: list[str]  # log names stored by this run
    covers_until: str  # UTC time: every event before it is archived


@dataclass(frozen=True)
class Archived:
    """One archived binary log, in either form: ``parts`` objects of the log archive, or the old
    ``snapshot``; ``covers_until``: the reach a run recorded with it (None: none recorded)."""

    file: str
    covers_until: datetime | None
    parts: int = 0
    snapshot: Snapshot | None = None


def _old_reach(snap: Snapshot) -> datetime | None:
    try:
        return datetime.fromisoformat(snap.meta["covers_until"])
    except (KeyError, TypeError, ValueError):  # not written by this drkit: left out, never fatal
        return None


def old_archived(repo: Repository, name: str) -> dict[str, Snapshot]:
    """Log name → its ``mysql-binlog`` snapshot (the old form), for source ``name``."""
    found = [s for s in snapshots.load_all(repo.manifests) if s.source_kind == KIND and s.source_name == name]
    return {s.meta["file"]: s for s in found}


def archived(repo: Repository, name: str) -> dict[str, Archived]:
    """Log name → the archived log, for source ``name``: the log archive's complete logs (every part
    there) and the old snapshots."""
    logs = {f: Archived(f, _old_reach(s), snapshot=s) for f, s in old_archived(repo, name).items()}
    parts: dict[str, set[int]] = {}
    counts: dict[str, int] = {}
    reach: dict[str, datetime] = {}
    for n in source_names(repo, name):
        if n.until is not None:
            reach[n.file] = max(n.until, reach.get(n.file, n.until))
        else:
            parts.setdefault(n.file, set()).add(n.part)
            counts[n.file] = n.parts
    for file, have in parts.items():
        if len(have) == counts[file] and file not in logs:
            logs[file] = Archived(file, reach.get(file), parts=counts[file])
    for file, until in reach.items():  # a marker of a log held in the old form (a run after an upgrade)
        if file in logs and (logs[file].covers_until or until) <= until:
            logs[file] = replace(logs[file], covers_until=until)
    return logs


def covered_until(repo: Repository, name: str) -> float | None:
    """Unix time before which every event of source ``name`` is archived (None: no log archived)."""
    times = [log.covers_until.timestamp() for log in archived(repo, name).values() if log.covers_until]
    return max(times, default=None)


def fetch(repo: Repository, name: str, log: Archived, dest: Path) -> None:
    """Write the archived ``log`` of source ``name`` to ``dest``, every part verified."""
    with open(dest, "wb") as out:
        if log.snapshot is not None:
            restore_stream(repo, log.snapshot, out)
            return
        for i in range(1, log.parts + 1):
            data = archive(repo).read(part_name(name, log.file, i, log.parts))
            if data is None:
                raise IntegrityError(f"binary log {log.file} of source {name}: part {i} of {log.parts} is gone")
            out.write(data)


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
        sizes = {
            row[0]: int(row[1]) if row[1:] and row[1].isdigit() else None for row in query(conn, "SHOW BINARY LOGS")
        }
        listed = list(sizes)
        logs = listed[:-1]  # the last one is being written
        have = archived(repo, name)
        _refuse_renumbered(have, listed[-1:], name)
        identity = same_server(repo, conn, name, have, sizes)
        heads: dict[str, str | None] = {}
        with tempfile.TemporaryDirectory(prefix="drkit-binlog-") as tmp:
            for log in logs:
                if log not in have:
                    heads[log] = _store(repo, conn, name, log, Path(tmp))
        if logs:  # the reach, after every log it vouches for
            doc: dict[str, object] = {"source": name, "file": logs[-1], "covers_until": before, "server": conn.display}
            doc |= {"identity": identity, "heads": heads}
            marker = marker_name(name, logs[-1], datetime.fromisoformat(before))
            archive(repo).put(marker, json.dumps(doc, sort_keys=True).encode())
    return ArchiveOutcome(list(heads), before)


def _refuse_renumbered(have: dict[str, Archived], current: list[str], name: str) -> None:
    """A server's log numbers only grow: an archived log numbered past the one it writes now was written
    by the server before its logs restarted (RESET MASTER) or by another server. Its logs under these
    names are other logs than the archived ones; storing on would skip them as archived."""
    if not current:
        return
    base, now = log_number(checked_file(current[0]))
    ahead = sorted(f for f in have if log_number(f)[0] == base and log_number(f)[1] > now)
    if ahead:
        raise IntegrityError(
            f"the binary-log archive of source {name} holds {ahead[-1]}, past the log the server writes now "
            f"({current[0]}): the server's logs restarted (RESET MASTER) or another server archives under {name}",
            hint="archive this server under a new --name and take a new --pitr dump under it",
        )


def _store(repo: Repository, conn: MysqlConn, name: str, log: str, tmp: Path) -> str | None:
    """Fetch ``log`` and store it in parts of at most PART bytes (one in memory at a time); its head."""
    checked_file(log)
    run("binlog", conn, ["--read-from-remote-server", "--raw", f"--result-file={tmp}/", log])
    path = tmp / log
    count = max(1, -(-path.stat().st_size // PART))
    with open(path, "rb") as readable:
        head = head_of_log(readable.read(HEAD_BYTES))
        readable.seek(0)
        for i in range(1, count + 1):
            if archive(repo).put(part_name(name, log, i, count), readable.read(PART)) == "conflict":
                raise IntegrityError(
                    f"binary log {log} of source {name} is archived with other content; refusing to overwrite it",
                    hint="two servers archiving under one source name? give each its own --name",
                )
    path.unlink()
    return head


def log_number(log: str) -> tuple[str, int]:
    found = _NUMBERED.match(log)
    if found is None:
        raise MysqlUsage(f"unexpected binary log name {log!r} (expected BASENAME.NNNNNN)")
    return found["base"], int(found["n"])


def chain(have: dict[str, Archived], first: str) -> list[Archived]:
    """The archived logs from ``first`` on, in order; refused if ``first`` is missing or a log in the
    middle is (the server purged it before it was archived, or a run stopped before storing all of it)."""
    base, start = log_number(first)
    numbered = sorted((log_number(f)[1], log) for f, log in have.items() if log_number(f)[0] == base)
    logs = [log for n, log in numbered if n >= start]
    expected = start
    for log in logs:
        number = log_number(log.file)[1]
        if number != expected:
            raise MysqlUsage(f"binary log {base}.{expected:06d} is not in the archive: no restore can cross it")
        expected += 1
    if not logs:
        raise MysqlUsage(f"binary log {first} is not in the archive yet", hint="run `drkit mysql binlog-archive` first")
    return logs


def unneeded(repo: Repository, name: str) -> list[Snapshot] | None:
    """The ``mysql-binlog`` snapshots (the old form) of ``name`` older than the log the oldest ``--pitr``
    dump of ``name`` starts from: no point-in-time restore can use them. None when there is no --pitr
    dump (nothing is called unneeded then: the archive may be waiting for its first dump). Logs in the
    log archive need no list: ``drkit forget`` trims them with the dumps kept."""
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
    for log, snap in old_archived(repo, name).items():
        base, number = log_number(log)
        if base in by_base and number < by_base[base]:
            old.append(snap)
    return sorted(old, key=lambda s: log_number(s.meta["file"]))
