"""Point-in-time restore: the newest dump that recorded its binary-log position and lies before
the target, restored into a new or empty database (``restore``), then the archived binary logs
replayed from that position to the target (``mariadb-binlog --stop-datetime`` or
``--stop-position``) for the dump's database only, renamed to the target database
(``--rewrite-db``).

Binary logs record whole seconds: a target time is the state before the first transaction logged
at or after it (a time with a fraction of a second is refused rather than rounded). A position
(``FILE:POS``, as ``SHOW MASTER STATUS`` prints it) is exact. A target the archive does not reach
yet, or a log missing from the chain, is refused before anything is restored. Statements that
name another database explicitly (``db.table``) are not renamed: statement-based logging needs the
original database name; the default ``binlog_format=ROW`` has no such limit."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ...repository import snapshots
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from .binlog import Archived, archived, chain, fetch, log_number
from .conn import MysqlConn
from .continuity import check_chain
from .dump import KIND
from .errors import MysqlUsage
from .identity import head_of_file
from .process import spawned
from .restore import RestoreOutcome, restore_dump


@dataclass(frozen=True)
class Point:
    time: datetime | None = None  # aware
    position: tuple[str, int] | None = None  # (log file, byte position)

    @classmethod
    def parse_position(cls, text: str) -> Point:
        log, _, pos = text.rpartition(":")
        if not log or not pos.isdigit():
            raise MysqlUsage(f"--stop-position {text!r}: give FILE:POS, e.g. binlog.000042:1337")
        log_number(log)
        return cls(position=(log, int(pos)))

    def describe(self) -> str:
        return self.time.isoformat() if self.time else f"{self.position[0]}:{self.position[1]}"  # type: ignore[index]


def _key(log: str, pos: int) -> tuple[str, int, int]:
    base, number = log_number(log)
    return base, number, pos


def _before(snap: Snapshot, point: Point) -> bool:
    """Whether the dump's state is at or before ``point``. By time: on the server's clock (the one
    binary-log times use) once the dump was done; drkit's end time only for a dump without it."""
    if point.time is not None:
        after = snap.meta["binlog"].get("server_time_after") or snap.end_time
        return datetime.fromisoformat(after) <= point.time
    assert point.position is not None
    at = snap.meta["binlog"]
    return _key(at["file"], at["position"]) <= _key(*point.position)


def base_dump(repo: Repository, name: str, point: Point) -> Snapshot:
    dumps = [
        s
        for s in snapshots.load_all(repo.manifests)
        if s.source_kind == KIND and s.source_name == name and "binlog" in s.meta and _before(s, point)
    ]
    if not dumps:
        raise MysqlUsage(
            f"no dump of {name!r} with a binary-log position before {point.describe()}",
            hint="take dumps with `drkit backup mysql --pitr` (records the position)",
        )
    return dumps[-1]


def _logs(repo: Repository, name: str, base: Snapshot, point: Point) -> list[Archived]:
    logs = chain(archived(repo, name), base.meta["binlog"]["file"])
    if point.position is not None:
        target = _key(point.position[0], 0)[:2]
        logs = [log for log in logs if _key(log.file, 0)[:2] <= target]
        if _key(logs[-1].file, 0)[:2] != target:
            raise MysqlUsage(
                f"binary log {point.position[0]} is not in the archive yet", hint="run `drkit mysql binlog-archive`"
            )
        return logs
    assert point.time is not None
    reach = max((log.covers_until for log in logs if log.covers_until is not None), default=None)
    if reach is None or reach < point.time:
        raise MysqlUsage(
            f"the binary-log archive reaches {reach.isoformat() if reach else 'no recorded time'}, "
            f"before {point.describe()}",
            hint="run `drkit mysql binlog-archive`, then restore again",
        )
    return logs


def whole_second(when: datetime) -> datetime:
    """``when`` if it has no fraction of a second; binary logs record whole seconds, so a fraction is refused
    rather than rounded (the transactions logged in that second may be before or after it)."""
    if when.microsecond:
        raise MysqlUsage(
            "binary logs record whole seconds: give --point-in-time without a fraction",
            hint="or give an exact --stop-position FILE:POS",
        )
    return when


def restore_point(
    repo: Repository,
    target: MysqlConn,
    name: str,
    point: Point,
    database: str | None = None,
) -> tuple[RestoreOutcome, int]:
    """Restore source ``name`` as of ``point``; (the dump's restore, binary logs replayed)."""
    if point.time is not None:
        whole_second(point.time)
    base = base_dump(repo, name, point)
    logs = _logs(repo, name, base, point)
    with tempfile.TemporaryDirectory(prefix="drkit-binlog-") as tmp:
        files = [_fetch(repo, name, log, Path(tmp)) for log in logs]  # all verified before anything is restored
        _same_server(files[0], base, name)
        check_chain(files, name)
        _within(files, base, name, point)
        out = restore_dump(repo, base, target, database)
        _replay(files, target, base, out.database, point)
    return out, len(files)


def _within(files: list[Path], base: Snapshot, name: str, point: Point) -> None:
    """The dump's position lies in the first log, a --stop-position in the last: a log that ends
    before the dump's position is not the log the dump was taken in (the server renumbered its logs:
    RESET MASTER, another server under this name), and replaying it would replay nothing."""
    start, first = int(base.meta["binlog"]["position"]), files[0].stat().st_size
    if first < start:
        detail = f"binary log {files[0].name} in the archive ends at byte {first}, before the dump's position {start}"
        raise _not_the_dumps(name, detail)
    if point.position is not None and point.position[1] > files[-1].stat().st_size:
        raise MysqlUsage(f"--stop-position {point.describe()} is past the end of that log ({files[-1].stat().st_size})")


def _same_server(first: Path, base: Snapshot, name: str) -> None:
    """The first log to replay is the one the dump was taken in, on the dump's server: its head (the
    server id and the time the log was opened, identity.py) is the one the dump recorded. Another
    server's log of that name (a replaced server, a failover, two servers under one --name, logs that
    restarted) would replay its events onto this dump. A dump without a recorded head (older drkit)
    is checked by ``_within`` only."""
    want = base.meta["binlog"].get("head")
    got = head_of_file(first)
    if want and got != want:
        raise _not_the_dumps(
            name, f"binary log {first.name} in the archive opened as {got}, the dump's as {want} (server_id@time)"
        )


def _not_the_dumps(name: str, detail: str) -> MysqlUsage:
    return MysqlUsage(
        f"{detail}: it is not the log the dump was taken in (written by another server under source name "
        f"{name}, or the server's logs restarted): no restore replays it",
        hint="archive each server (and a server after RESET MASTER) under its own --name, with its own --pitr dump",
    )


def _fetch(repo: Repository, name: str, log: Archived, tmp: Path) -> Path:
    path = tmp / log.file
    fetch(repo, name, log, path)
    return path


def _replay(files: list[Path], target: MysqlConn, base: Snapshot, database: str, point: Point) -> None:
    source_db = str(base.meta["database"])
    args = [
        f"--start-position={base.meta['binlog']['position']}",
        f"--rewrite-db={source_db}->{database}",
        f"--database={source_db}",
        "--skip-gtid-strict-mode",
    ]  # MariaDB filters on the original name
    if point.time is not None:
        args.append(f"--stop-datetime={point.time.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')}")
    else:
        assert point.position is not None
        args.append(f"--stop-position={point.position[1]}")
    with (
        spawned("binlog", target, [*args, *map(str, files)]) as decoder,
        spawned("client", target, ["--binary-mode", "--database", database], feed=True) as client,
    ):
        shutil.copyfileobj(decoder.stdout, client.stdin)
        decoder.finish()
        client.finish()
