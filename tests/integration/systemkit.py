"""The whole-system history the system tests restore and drill: PostgreSQL 15, Redis 7 (AOF with timestamps)
and a file tree under a writer that stamps one sequence number every 100 ms into all three (a committed row, a
Redis list entry, a file landing whole), a system heartbeat every 300 ms, two files snapshots during the load.
The writer's and the heartbeat's own logs (start and end of each write, by the clock the servers use) are the
oracle the tests compare restored data with; drkit's metadata is never the reference."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import yaml
from clirun import drkit
from servers.postgres import DB_PASSWORD, PgServer, start_postgres, stop_cluster
from servers.redis import RedisServer, start_redis

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLACK = 0.5  # seconds: a Redis server's cached clock may lag the client's by up to its event-loop tick


@dataclass
class Stamp:
    n: int
    start: float  # before the INSERT
    redis_start: float
    redis_end: float
    file_start: float
    end: float  # after the file is written


@dataclass
class Writer:
    pg_url: str
    redis: RedisServer
    files: Path
    stamps: list[Stamp] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    progress: threading.Condition = field(default_factory=threading.Condition)
    error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.pg_url, password=DB_PASSWORD, autocommit=True) as db, self.redis.client() as r:
                while not self.stop.is_set():
                    self._one(db, r, len(self.stamps) + 1)
                    self.stop.wait(0.1)
        except BaseException as exc:  # reported by the test, never lost in the thread
            self.error = exc
            with self.progress:
                self.progress.notify_all()

    def _one(self, db: psycopg.Connection[object], r: object, n: int) -> None:
        t0 = time.time()
        db.execute("INSERT INTO seq VALUES (%s)", (n,))
        t1 = time.time()
        r.rpush("seq", n)  # type: ignore[attr-defined]
        t2 = time.time()
        tmp = self.files / f".tmp-{n:05d}"  # an upload lands whole: a snapshot never reads half a file
        tmp.write_text(f"{n}\n")
        os.replace(tmp, self.files / f"seq-{n:05d}")
        stamp = Stamp(n, t0, t1, t2, t2, time.time())
        with self.progress:
            self.stamps.append(stamp)
            self.progress.notify_all()

    def wait_for(self, n: int) -> None:
        with self.progress:
            assert self.progress.wait_for(lambda: len(self.stamps) >= n or self.error is not None, timeout=300)
        assert self.error is None, self.error


@dataclass
class Beat:
    before: float  # before the heartbeat was written
    at: float  # the instant written into every component
    after: float  # once it was in all three


def heartbeats(config: Path, stop: threading.Event, beats: list[Beat], errors: list[BaseException]) -> None:
    """The system heartbeat, as the scheduler writes it, every 300 ms while the writer writes."""
    from drkit.config import load_config
    from drkit.jobs.system_heartbeat import write_system_heartbeat

    try:
        cfg = load_config(config)
        while not stop.is_set():
            before = time.time()
            at = write_system_heartbeat(cfg, "shop").timestamp()
            beats.append(Beat(before, at, time.time()))
            stop.wait(0.3)
    except BaseException as exc:  # reported by the test
        errors.append(exc)


@dataclass
class History:
    pg: PgServer
    redis: RedisServer
    config: Path
    writer: Writer
    snaps: list[tuple[float, float]]  # files snapshots: (before the job ran, after it returned)
    beats: list[Beat]
    first_beat: str  # the heartbeat written before the base backup (as `system heartbeat --json` printed it)


def write_config(path: Path, pg: PgServer, redis: RedisServer, files: Path) -> Path:
    doc = {
        "repositories": {"default": {"url": pg.repo_url, "passphrase": {"file": str(pg.repo_password_file)}}},
        "jobs": {
            "app-db": {
                "source": {
                    "kind": "postgres",
                    "dsn": pg.url,
                    "mode": "physical",
                    "password": {"file": str(pg.db_password_file)},
                }
            },
            "cache": {"source": {"kind": "redis", "url": redis.url, "aof_dir": str(redis.aof_dir)}},
            "uploads": {"source": {"kind": "files", "paths": [str(files)]}},
        },
        # an RTO target of 1 ms no drill meets, an RPO target of an hour every drill here meets: one pass, one miss
        "systems": {"shop": {"jobs": ["app-db", "cache", "uploads"], "targets": {"rpo": "1h", "rto": 0.001}}},
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def drkit_ok(config: Path, *args: str) -> bytes:
    proc = drkit("--config", str(config), *args, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
    return proc.stdout


def assert_heartbeat_everywhere(pg: PgServer, redis: RedisServer, files: Path, at: str) -> None:
    """`drkit system heartbeat` put the one instant it reports into a row, a key and a file (read here directly)."""
    when = datetime.fromisoformat(at.replace("Z", "+00:00"))
    row = pg.psql("SELECT extract(epoch FROM written_at) FROM drkit_canary WHERE job = 'system:shop'")
    assert float(row) == pytest.approx(when.timestamp(), abs=1e-6)
    with redis.client() as r:
        assert int(r.get("drkit:canary:system:shop")) == round(when.timestamp() * 1000)
    assert datetime.fromisoformat((files / ".drkit-canary-system:shop").read_text().strip()) == when


def target_of(h: History) -> tuple[float, int]:
    """T halfway between two writes a second after the second files snapshot ended; the last write before it."""
    after = h.snaps[1][1] + 1.0
    k = next(s.n for s in h.writer.stamps if s.end > after)
    stamps = h.writer.stamps
    return (stamps[k - 1].end + stamps[k].start) / 2, k


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def restored_pg(h: History, port: int) -> list[int]:
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", password=DB_PASSWORD) as db:
        return [row[0] for row in db.execute("SELECT n FROM seq ORDER BY n")]


def restored_redis(port: int) -> list[int]:
    import redis

    with redis.Redis(host="127.0.0.1", port=port) as r:
        return [int(v) for v in r.lrange("seq", 0, -1)]


def restored_pg_heartbeat(port: int) -> float:
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", password=DB_PASSWORD) as db:
        row = db.execute("SELECT extract(epoch FROM written_at) FROM drkit_canary WHERE job = 'system:shop'")
        return float(row.fetchone()[0])  # type: ignore[index]


def restored_redis_heartbeat(port: int) -> float:
    import redis

    with redis.Redis(host="127.0.0.1", port=port) as r:
        return int(r.get("drkit:canary:system:shop")) / 1000  # type: ignore[arg-type]


def assert_newest_before(beats: list[Beat], value: float, low: float, high: float) -> None:
    """``value`` is the newest heartbeat written before a point known to lie in [low, high]: at least the
    newest one finished before ``low``, at most the newest one started before ``high``."""
    least = max(b.at for b in beats if b.after < low)
    most = max(b.at for b in beats if b.before < high)
    assert least - 1e-6 <= value <= most + 1e-6, (least, value, most)


def restored_files(root: Path) -> list[int]:
    (tree,) = list(root.iterdir())
    found = []
    for f in sorted(p for p in tree.iterdir() if p.name.startswith("seq-")):
        assert f.read_text() == f"{int(f.name[4:])}\n"  # each file whole, as written
        found.append(int(f.name[4:]))
    return found


def stop_restored(h: History, into: Path, doc: dict[str, object] | None) -> None:
    stop_cluster(h.pg.bindir, into / "app-db")
    for part in (doc or {}).get("components", []):  # type: ignore[attr-defined]
        if part.get("pid"):
            os.kill(part["pid"], signal.SIGTERM)
            wait_gone(part["pid"])


def wait_gone(pid: int) -> None:
    for _ in range(600):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)  # polling a process that is not ours to wait() for


@contextmanager
def record_history(tmp: Path) -> Iterator[History]:
    """The servers, a base backup, then the load with heartbeats and two files snapshots; then the WAL archived
    and the AOF backed up. Yields while the servers still run."""
    files = tmp / "uploads"
    files.mkdir()
    with start_postgres("drkit-system-") as pg, start_redis(tmp / "redis", aof=True) as redis:
        pg.psql("CREATE TABLE seq (n int PRIMARY KEY)")
        config = write_config(tmp / "drkit.yaml", pg, redis, files)
        beat = json.loads(drkit_ok(config, "system", "heartbeat", "shop", "--json"))  # H0, in the base backup
        assert_heartbeat_everywhere(pg, redis, files, beat["at"])
        drkit_ok(config, "job", "run", "app-db")  # the base backup, before the load starts
        writer = Writer(pg.url, redis, files)
        thread = threading.Thread(target=writer.run, daemon=True)
        beats: list[Beat] = []
        errors: list[BaseException] = []
        beater = threading.Thread(target=heartbeats, args=(config, writer.stop, beats, errors), daemon=True)
        thread.start()
        beater.start()
        snaps = []
        try:
            for n in (15, 35):
                writer.wait_for(n)
                before = time.time()
                drkit_ok(config, "job", "run", "uploads")
                snaps.append((before, time.time()))
            writer.wait_for(len(writer.stamps) + 25)
        finally:
            writer.stop.set()
            thread.join(60)
            beater.join(60)
        assert writer.error is None, writer.error
        assert not errors, errors
        assert len(beats) > 10
        drkit_ok(
            config,
            "pg",
            "archive-check",
            "--dsn",
            pg.url,
            "--db-password-file",
            str(pg.db_password_file),
            "--repo",
            pg.repo_url,
            "--password-file",
            str(pg.repo_password_file),
        )
        drkit_ok(config, "job", "run", "cache")  # the AOF directory: base + every write, with timestamps
        yield History(pg, redis, config, writer, snaps, beats, beat["at"])
