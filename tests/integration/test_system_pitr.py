"""A whole system (PostgreSQL, Redis, a file tree) restored to one point in time, under a steady write load.

A writer stamps one sequence number every 100 ms into all three: a row (committed), a Redis list entry and a
file. While it writes, the file tree is snapshotted twice; afterwards the WAL is archived and the AOF backed up.
The oracle is the writer's own log (when each write started and ended, by the same clock the servers use),
not drkit's metadata: restored to a T between two writes, PostgreSQL holds exactly 1..k (the writes before T);
Redis holds exactly the writes before the whole second its AOF is cut at (reported as its point); the files
hold the writes before their snapshot started (reported as theirs); the reported skews are those points'
distances to T. Without `--allow-skew` the same restore is refused with exit 15, before anything is written."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import yaml
from clirun import drkit, one_line_error
from servers.postgres import DB_PASSWORD, PgServer, make_shared_dir, start_postgres, stop_cluster
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


def _heartbeats(config: Path, stop: threading.Event, beats: list[Beat], errors: list[BaseException]) -> None:
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


def _config(path: Path, pg: PgServer, redis: RedisServer, files: Path) -> Path:
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


def _ok(config: Path, *args: str) -> bytes:
    proc = drkit("--config", str(config), *args, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
    return proc.stdout


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    tmp = tmp_path_factory.mktemp("system")
    files = tmp / "uploads"
    files.mkdir()
    with start_postgres("drkit-system-") as pg, start_redis(tmp / "redis", aof=True) as redis:
        pg.psql("CREATE TABLE seq (n int PRIMARY KEY)")
        config = _config(tmp / "drkit.yaml", pg, redis, files)
        beat = json.loads(_ok(config, "system", "heartbeat", "shop", "--json"))  # H0, in the base backup
        _assert_heartbeat_everywhere(pg, redis, files, beat["at"])
        _ok(config, "job", "run", "app-db")  # the base backup, before the load starts
        writer = Writer(pg.url, redis, files)
        thread = threading.Thread(target=writer.run, daemon=True)
        beats: list[Beat] = []
        errors: list[BaseException] = []
        beater = threading.Thread(target=_heartbeats, args=(config, writer.stop, beats, errors), daemon=True)
        thread.start()
        beater.start()
        snaps = []
        try:
            for n in (15, 35):
                writer.wait_for(n)
                before = time.time()
                _ok(config, "job", "run", "uploads")
                snaps.append((before, time.time()))
            writer.wait_for(len(writer.stamps) + 25)
        finally:
            writer.stop.set()
            thread.join(60)
            beater.join(60)
        assert writer.error is None, writer.error
        assert not errors, errors
        assert len(beats) > 10
        _ok(
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
        _ok(config, "job", "run", "cache")  # the AOF directory: base + every write, with timestamps
        yield History(pg, redis, config, writer, snaps, beats, beat["at"])


def _assert_heartbeat_everywhere(pg: PgServer, redis: RedisServer, files: Path, at: str) -> None:
    """`drkit system heartbeat` put the one instant it reports into a row, a key and a file (read here directly)."""
    when = datetime.fromisoformat(at.replace("Z", "+00:00"))
    row = pg.psql("SELECT extract(epoch FROM written_at) FROM drkit_canary WHERE job = 'system:shop'")
    assert float(row) == pytest.approx(when.timestamp(), abs=1e-6)
    with redis.client() as r:
        assert int(r.get("drkit:canary:system:shop")) == round(when.timestamp() * 1000)
    assert datetime.fromisoformat((files / ".drkit-canary-system:shop").read_text().strip()) == when


def _target(h: History) -> tuple[float, int]:
    """T halfway between two writes a second after the second files snapshot ended; the last write before it."""
    after = h.snaps[1][1] + 1.0
    k = next(s.n for s in h.writer.stamps if s.end > after)
    stamps = h.writer.stamps
    return (stamps[k - 1].end + stamps[k].start) / 2, k


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _restored_pg(h: History, port: int) -> list[int]:
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", password=DB_PASSWORD) as db:
        return [row[0] for row in db.execute("SELECT n FROM seq ORDER BY n")]


def _restored_redis(port: int) -> list[int]:
    import redis

    with redis.Redis(host="127.0.0.1", port=port) as r:
        return [int(v) for v in r.lrange("seq", 0, -1)]


def _restored_pg_heartbeat(port: int) -> float:
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", password=DB_PASSWORD) as db:
        row = db.execute("SELECT extract(epoch FROM written_at) FROM drkit_canary WHERE job = 'system:shop'")
        return float(row.fetchone()[0])  # type: ignore[index]


def _restored_redis_heartbeat(port: int) -> float:
    import redis

    with redis.Redis(host="127.0.0.1", port=port) as r:
        return int(r.get("drkit:canary:system:shop")) / 1000  # type: ignore[arg-type]


def _assert_newest_before(beats: list[Beat], value: float, low: float, high: float) -> None:
    """``value`` is the newest heartbeat written before a point known to lie in [low, high]: at least the
    newest one finished before ``low``, at most the newest one started before ``high``."""
    least = max(b.at for b in beats if b.after < low)
    most = max(b.at for b in beats if b.before < high)
    assert least - 1e-6 <= value <= most + 1e-6, (least, value, most)


def _restored_files(root: Path) -> list[int]:
    (tree,) = list(root.iterdir())
    found = []
    for f in sorted(p for p in tree.iterdir() if p.name.startswith("seq-")):
        assert f.read_text() == f"{int(f.name[4:])}\n"  # each file whole, as written
        found.append(int(f.name[4:]))
    return found


def test_without_allow_skew_the_restore_is_refused_and_nothing_written(history: History) -> None:
    when, _ = _target(history)
    out = make_shared_dir("drkit-system-refused-")
    try:
        proc = drkit(
            "--config",
            str(history.config),
            "restore",
            "--system",
            "shop",
            "--point-in-time",
            _iso(when),
            "--target-dir",
            str(out / "into"),
        )
        assert proc.returncode == 15, proc.stderr.decode()
        line = one_line_error(proc)
        assert "uploads (files)" in line and "app-db" not in line and "cache" not in line, line
        assert not (out / "into").exists()
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_system_restored_to_the_middle_holds_exactly_the_writes_before_each_reported_point(history: History) -> None:
    when, k = _target(history)
    stamps = {s.n: s for s in history.writer.stamps}
    out = make_shared_dir("drkit-system-restore-")
    doc = None
    try:
        proc = drkit(
            "--config",
            str(history.config),
            "restore",
            "--system",
            "shop",
            "--point-in-time",
            _iso(when),
            "--target-dir",
            str(out / "into"),
            "--allow-skew",
            "5min",
            "--start",
            "--json",
            timeout=600,
        )
        doc = json.loads(proc.stdout) if proc.stdout else None
        assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
        parts = {c["job"]: c for c in doc["components"]}
        assert doc["ok"] and doc["point_in_time"] == _iso(when)

        # PostgreSQL: WAL replay to T itself -- exactly the rows committed before T
        pg = parts["app-db"]
        assert (pg["point"], pg["skew_seconds"]) == (_iso(when), 0)
        assert _restored_pg(history, pg["port"]) == list(range(1, k + 1))

        # Redis: the state at the whole second before T; exactly the pushes before it
        red = parts["cache"]
        second = math.floor(when)
        assert red["point"] == _iso(second).replace(".000000", "")
        assert red["skew_seconds"] == pytest.approx(when - second, abs=1e-5)
        got = _restored_redis(red["port"])
        assert got == list(range(1, len(got) + 1))  # a prefix of the writes: nothing lost in between
        assert all(stamps[n].redis_start < second + SLACK for n in got)
        assert all(s.n in got for s in stamps.values() if s.redis_end < second - SLACK)

        # files: the second snapshot (the first one that ended before T); its point is its start
        files = parts["uploads"]
        started = datetime.fromisoformat(files["point"].replace("Z", "+00:00")).timestamp()
        before, after = history.snaps[1]
        assert before <= started <= after
        assert files["skew_seconds"] == pytest.approx(when - started, abs=1e-5)
        held = _restored_files(out / "into" / "uploads")
        assert held == list(range(1, len(held) + 1))
        assert all(s.n in held for s in stamps.values() if s.end < started)  # every file written before it
        assert all(stamps[n].file_start < after for n in held)  # none written after it was read

        # the system's skew: from the oldest point (the files') to the newest (PostgreSQL's, T)
        assert doc["skew_seconds"] == pytest.approx(when - started, abs=1e-5)

        # the system heartbeat, read from the restored data here: each component holds the newest one written
        # before its point; the report's verified point is the oldest of the three, its measured skew their spread
        found = {
            "app-db": _restored_pg_heartbeat(pg["port"]),
            "cache": _restored_redis_heartbeat(red["port"]),
            "uploads": datetime.fromisoformat(
                (out / "into" / "uploads" / "uploads" / ".drkit-canary-system:shop").read_text().strip()
            ).timestamp(),
        }
        _assert_newest_before(history.beats, found["app-db"], when, when)
        _assert_newest_before(history.beats, found["cache"], second - SLACK, second + SLACK)
        _assert_newest_before(history.beats, found["uploads"], started, after)
        for job, at in found.items():
            assert parts[job]["heartbeat"] == _iso(at).replace(".000000", ""), job
        assert doc["verified_point"] == _iso(min(found.values())).replace(".000000", "")
        assert doc["measured_skew_seconds"] == pytest.approx(max(found.values()) - min(found.values()), abs=1e-3)
    finally:
        _stop(history, out / "into", doc)
        shutil.rmtree(out, ignore_errors=True)


def _stop(h: History, into: Path, doc: dict[str, object] | None) -> None:
    stop_cluster(h.pg.bindir, into / "app-db")
    for part in (doc or {}).get("components", []):  # type: ignore[attr-defined]
        if part.get("pid"):
            os.kill(part["pid"], signal.SIGTERM)
            _wait_gone(part["pid"])


def _wait_gone(pid: int) -> None:
    for _ in range(600):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)  # polling a process that is not ours to wait() for


def test_system_drill_judges_each_component_the_heartbeat_and_each_target(history: History, tmp_path: Path) -> None:
    when, _ = _target(history)
    js, junit, prom = tmp_path / "drill.json", tmp_path / "drill.xml", tmp_path / "drill.prom"
    proc = drkit(
        "--config",
        str(history.config),
        "drill",
        "--system",
        "shop",
        "--point-in-time",
        _iso(when),
        "--allow-skew",
        "5min",
        "--sandbox",
        "local",
        "--json",
        str(js),
        "--junit",
        str(junit),
        "--prom-file",
        str(prom),
        timeout=900,
    )
    err = proc.stderr.decode()
    assert "Traceback" not in err, err
    assert proc.returncode == 20, err + proc.stdout.decode()  # every check passed; the RTO target was missed
    report = json.loads(js.read_text())
    system, *parts = report["drills"]
    assert (system["job"], system["source_kind"]) == ("shop", "system")
    assert sorted(p["job"] for p in parts) == ["app-db", "cache", "uploads"]
    checks = {c["name"]: c for c in system["checks"]}
    assert set(checks) == {
        "component:app-db",
        "component:cache",
        "component:uploads",
        "system.skew",
        "system.heartbeat",
    }
    assert all(c["ok"] for c in checks.values()), checks

    # each component's newest heartbeat is the newest written before its point, as in the restore
    beats = {job: datetime.fromisoformat(at).timestamp() for job, at in system["system_heartbeats"].items()}
    second = math.floor(when)
    files_point = next(p for p in parts if p["job"] == "uploads")
    _assert_newest_before(history.beats, beats["app-db"], when, when)
    _assert_newest_before(history.beats, beats["cache"], second - SLACK, second + SLACK)
    _assert_newest_before(history.beats, beats["uploads"], *history.snaps[1])
    assert files_point["snapshot_id"]
    oldest = min(beats.values())
    assert (
        f"their newest are {round(max(beats.values()) - oldest, 3):g} s apart" in checks["system.heartbeat"]["detail"]
    )
    started = datetime.fromisoformat(system["started_at"]).timestamp()
    assert system["rpo_verified_seconds"] == pytest.approx(started - oldest, abs=0.002)
    assert {t["name"]: t["ok"] for t in system["targets"]} == {"rpo": True, "rto": False}

    # JUnit: the system's suite has a test case per component and per target, the missed one failed
    suite = ET.parse(junit).getroot().find("testsuite[@name='drkit-drill.shop']")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    for name in (
        "check:component:app-db",
        "check:component:cache",
        "check:component:uploads",
        "check:system.heartbeat",
        "target:rpo",
        "target:rto",
    ):
        assert name in cases, sorted(cases)
    assert cases["target:rto"].find("failure") is not None and cases["target:rpo"].find("failure") is None
    html = tmp_path / "report.html"
    shown = _ok(history.config, "report", "shop", "--html", str(html)).decode()  # the history keeps the system's drill
    assert "shop: 1 drills, 0 passed" in shown and "shop" in html.read_text()
    text = prom.read_text()
    assert 'drkit_drill_success{drkit_job="shop"} 0.0' in text
    assert 'drkit_rto_target_seconds{drkit_job="shop"} 0.001' in text


def test_all_systems_without_start_lay_out_each_component_and_leave_the_point_unproven(history: History) -> None:
    when, _ = _target(history)
    out = make_shared_dir("drkit-system-all-")
    try:
        proc = drkit(
            "--config",
            str(history.config),
            "restore",
            "--all",
            "--point-in-time",
            _iso(when),
            "--target-dir",
            str(out / "into"),
            "--allow-skew",
            "5min",
            "--json",
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        (doc,) = json.loads(proc.stdout)
        assert doc["system"] == "shop" and doc["ok"]
        into = out / "into" / "shop"
        assert (into / "app-db" / "PG_VERSION").exists() and (into / "app-db" / "recovery.signal").exists()
        assert "recovery_target_time" in (into / "app-db" / "postgresql.auto.conf").read_text()
        assert (into / "cache" / "appendonlydir").is_dir()
        assert _restored_files(into / "uploads")
        heartbeats = {c["job"]: c["heartbeat"] for c in doc["components"]}
        assert heartbeats["app-db"] is None and heartbeats["cache"] is None and heartbeats["uploads"]
        assert doc["verified_point"] is None and doc["measured_skew_seconds"] is None  # not started: unproven
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_components_go_where_into_says_redis_into_a_running_server(history: History, tmp_path: Path) -> None:
    when, _ = _target(history)
    second = math.floor(when)
    stamps = {s.n: s for s in history.writer.stamps}
    out = make_shared_dir("drkit-system-into-")
    base = [
        "--config",
        str(history.config),
        "restore",
        "--system",
        "shop",
        "--point-in-time",
        _iso(when),
        "--allow-skew",
        "5min",
        "--target-dir",
        str(out / "into"),
    ]
    try:
        with start_redis(tmp_path / "empty") as empty:
            wrong = drkit(*base, "--into", f"app-db={empty.url}")
            assert wrong.returncode == 2 and "restores into a directory" in one_line_error(wrong)
            assert not (out / "into").exists()
            proc = drkit(
                *base, "--into", f"cache={empty.url}", "--into", f"uploads={out / 'tree'}", "--json", timeout=600
            )
            assert proc.returncode == 0, proc.stderr.decode()
            doc = json.loads(proc.stdout)
            parts = {c["job"]: c for c in doc["components"]}
            assert parts["cache"]["target"] == empty.url and parts["uploads"]["target"] == str(out / "tree")
            got = _restored_redis(empty.port)  # loaded into the running server: the same state as a restore
            assert got == list(range(1, len(got) + 1))
            assert all(stamps[n].redis_start < second + SLACK for n in got)
            assert all(s.n in got for s in stamps.values() if s.redis_end < second - SLACK)
            assert parts["cache"]["heartbeat"] == _iso(_restored_redis_heartbeat(empty.port)).replace(".000000", "")
        assert _restored_files(out / "tree") and not (out / "into" / "uploads").exists()
        assert (out / "into" / "app-db" / "PG_VERSION").exists()
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_a_system_drill_of_each_latest_backup_measures_how_far_apart_they_are(history: History, tmp_path: Path) -> None:
    """Without --point-in-time each component drills its own latest backup: PostgreSQL its base backup (taken
    before the load), Redis its AOF snapshot (after it), files their newest snapshot. The heartbeats show it."""
    js = tmp_path / "drill.json"
    proc = drkit(
        "--config",
        str(history.config),
        "drill",
        "--system",
        "shop",
        "--sandbox",
        "local",
        "--json",
        str(js),
        timeout=900,
    )
    assert proc.returncode == 20, proc.stderr.decode() + proc.stdout.decode()  # checks pass; the 1 ms RTO does not
    system = json.loads(js.read_text())["drills"][0]
    assert all(c["ok"] for c in system["checks"]) and "system.skew" not in {c["name"] for c in system["checks"]}
    beats = {job: datetime.fromisoformat(at).timestamp() for job, at in system["system_heartbeats"].items()}
    first = datetime.fromisoformat(history.first_beat.replace("Z", "+00:00")).timestamp()
    assert beats["app-db"] == pytest.approx(first, abs=1e-6)  # the base backup holds only the first heartbeat
    assert beats["cache"] == pytest.approx(max(b.at for b in history.beats), abs=1e-6)  # the AOF holds the last
    _assert_newest_before(history.beats, beats["uploads"], *history.snaps[1])
    heartbeat = next(c for c in system["checks"] if c["name"] == "system.heartbeat")
    assert f"holds the heartbeat of {history.first_beat}" in heartbeat["detail"]
    assert f"their newest are {round(beats['cache'] - first, 3):g} s apart" in heartbeat["detail"]
