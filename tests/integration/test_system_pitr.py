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
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from clirun import drkit, one_line_error
from servers.postgres import DB_PASSWORD, REPO_PASSWORD, make_shared_dir
from servers.redis import start_redis
from systemkit import (
    SLACK,
    History,
    assert_newest_before,
    drkit_ok,
    iso,
    record_history,
    restored_files,
    restored_pg,
    restored_pg_heartbeat,
    restored_redis,
    restored_redis_heartbeat,
    stop_restored,
    target_of,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def assert_no_secret(output: bytes) -> None:
    for secret in (DB_PASSWORD, REPO_PASSWORD):
        assert secret.encode() not in output


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    with record_history(tmp_path_factory.mktemp("system")) as recorded:
        yield recorded


def test_without_allow_skew_the_restore_is_refused_and_nothing_written(history: History) -> None:
    when, _ = target_of(history)
    out = make_shared_dir("drkit-system-refused-")
    try:
        proc = drkit(
            "--config",
            str(history.config),
            "restore",
            "--system",
            "shop",
            "--point-in-time",
            iso(when),
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
    when, k = target_of(history)
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
            iso(when),
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
        assert_no_secret(proc.stdout + proc.stderr)
        parts = {c["job"]: c for c in doc["components"]}
        assert doc["ok"] and doc["point_in_time"] == iso(when)

        # PostgreSQL: WAL replay to T itself -- exactly the rows committed before T
        pg = parts["app-db"]
        assert (pg["point"], pg["skew_seconds"]) == (iso(when), 0)
        assert restored_pg(history, pg["port"]) == list(range(1, k + 1))

        # Redis: the state at the whole second before T; exactly the pushes before it
        red = parts["cache"]
        second = math.floor(when)
        assert red["point"] == iso(second).replace(".000000", "")
        assert red["skew_seconds"] == pytest.approx(when - second, abs=1e-5)
        got = restored_redis(red["port"])
        assert got == list(range(1, len(got) + 1))  # a prefix of the writes: nothing lost in between
        assert all(stamps[n].redis_start < second + SLACK for n in got)
        assert all(s.n in got for s in stamps.values() if s.redis_end < second - SLACK)

        # files: the second snapshot (the first one that ended before T); its point is its start
        files = parts["uploads"]
        started = datetime.fromisoformat(files["point"].replace("Z", "+00:00")).timestamp()
        before, after = history.snaps[1]
        assert before <= started <= after
        assert files["skew_seconds"] == pytest.approx(when - started, abs=1e-5)
        held = restored_files(out / "into" / "uploads")
        assert held == list(range(1, len(held) + 1))
        assert all(s.n in held for s in stamps.values() if s.end < started)  # every file written before it
        assert all(stamps[n].file_start < after for n in held)  # none written after it was read

        # the system's skew: from the oldest point (the files') to the newest (PostgreSQL's, T)
        assert doc["skew_seconds"] == pytest.approx(when - started, abs=1e-5)

        # the system heartbeat, read from the restored data here: each component holds the newest one written
        # before its point; the report's verified point is the oldest of the three, its measured skew their spread
        found = {
            "app-db": restored_pg_heartbeat(pg["port"]),
            "cache": restored_redis_heartbeat(red["port"]),
            "uploads": datetime.fromisoformat(
                (out / "into" / "uploads" / "uploads" / ".drkit-canary-system:shop").read_text().strip()
            ).timestamp(),
        }
        assert_newest_before(history.beats, found["app-db"], when, when)
        assert_newest_before(history.beats, found["cache"], second - SLACK, second + SLACK)
        assert_newest_before(history.beats, found["uploads"], started, after)
        for job, at in found.items():
            assert parts[job]["heartbeat"] == iso(at).replace(".000000", ""), job
        assert doc["verified_point"] == iso(min(found.values())).replace(".000000", "")
        assert doc["measured_skew_seconds"] == pytest.approx(max(found.values()) - min(found.values()), abs=1e-3)
    finally:
        stop_restored(history, out / "into", doc)
        shutil.rmtree(out, ignore_errors=True)


def test_system_drill_judges_each_component_the_heartbeat_and_each_target(history: History, tmp_path: Path) -> None:
    when, _ = target_of(history)
    js, junit, prom = tmp_path / "drill.json", tmp_path / "drill.xml", tmp_path / "drill.prom"
    proc = drkit(
        "--config",
        str(history.config),
        "drill",
        "--system",
        "shop",
        "--point-in-time",
        iso(when),
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
    assert_no_secret(proc.stdout + proc.stderr + js.read_bytes() + junit.read_bytes() + prom.read_bytes())
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
    assert_newest_before(history.beats, beats["app-db"], when, when)
    assert_newest_before(history.beats, beats["cache"], second - SLACK, second + SLACK)
    assert_newest_before(history.beats, beats["uploads"], *history.snaps[1])
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
    shown = drkit_ok(
        history.config, "report", "shop", "--html", str(html)
    ).decode()  # the history keeps the system's drill
    assert re.search(r"^shop: [1-9]\d* drills, 0 passed", shown, re.M) and "shop" in html.read_text()
    text = prom.read_text()
    assert 'drkit_drill_success{drkit_job="shop"} 0.0' in text
    assert 'drkit_rto_target_seconds{drkit_job="shop"} 0.001' in text


def test_all_systems_without_start_lay_out_each_component_and_leave_the_point_unproven(history: History) -> None:
    when, _ = target_of(history)
    out = make_shared_dir("drkit-system-all-")
    try:
        proc = drkit(
            "--config",
            str(history.config),
            "restore",
            "--all",
            "--point-in-time",
            iso(when),
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
        assert restored_files(into / "uploads")
        heartbeats = {c["job"]: c["heartbeat"] for c in doc["components"]}
        assert heartbeats["app-db"] is None and heartbeats["cache"] is None and heartbeats["uploads"]
        assert doc["verified_point"] is None and doc["measured_skew_seconds"] is None  # not started: unproven
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_components_go_where_into_says_redis_into_a_running_server(history: History, tmp_path: Path) -> None:
    when, _ = target_of(history)
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
        iso(when),
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
            got = restored_redis(empty.port)  # loaded into the running server: the same state as a restore
            assert got == list(range(1, len(got) + 1))
            assert all(stamps[n].redis_start < second + SLACK for n in got)
            assert all(s.n in got for s in stamps.values() if s.redis_end < second - SLACK)
            assert parts["cache"]["heartbeat"] == iso(restored_redis_heartbeat(empty.port)).replace(".000000", "")
        assert restored_files(out / "tree") and not (out / "into" / "uploads").exists()
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
    assert_newest_before(history.beats, beats["uploads"], *history.snaps[1])
    heartbeat = next(c for c in system["checks"] if c["name"] == "system.heartbeat")
    assert f"holds the heartbeat of {history.first_beat}" in heartbeat["detail"]
    assert f"their newest are {round(beats['cache'] - first, 3):g} s apart" in heartbeat["detail"]
