"""PostgreSQL drills end to end on a real PostgreSQL 15 (its own server: these tests damage WAL).

- logical: backup by job, drill into a fresh local cluster; databases, row counts, checksums,
  amcheck, a user SQL check and the canary all pass; RTO phases and both RPOs are present.
- a table truncated after its counts were recorded: the drill fails naming postgres.row_counts
  in the JSON, JUnit and Prometheus reports.
- physical + WAL: a snapshot drill (recovery to the base backup's end, exact comparison) and a
  point-in-time drill pass; after a WAL segment goes missing, a drill to a time past the gap fails.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from drillkit import ENV, PASS_ENV, drill, ok
from promtext import require_metric
from servers.postgres import PgServer, start_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    with start_postgres("drkit-drill-pg-") as server:
        server.psql("CREATE DATABASE app")
        server.psql("CREATE TABLE events (n int PRIMARY KEY, at timestamptz DEFAULT now(), note text)", dbname="app")
        server.psql("CREATE TABLE users (id serial PRIMARY KEY, name text UNIQUE)", dbname="app")
        server.psql("INSERT INTO events (n, note) SELECT g, md5(g::text) FROM generate_series(1, 5000) g", dbname="app")
        server.psql("INSERT INTO users (name) SELECT 'user' || g FROM generate_series(1, 300) g", dbname="app")
        yield server


def _config(tmp: Path, pg: PgServer, mode: str, **extra: object) -> Path:
    job = {
        "source": {
            "kind": "postgres",
            "dsn": pg.db_url("app"),
            "password": {"file": str(pg.db_password_file)},
            "mode": mode,
        },
        "checks": [{"sql": "SELECT count(*) FROM users", "expect": "300"}],
        **extra,
    }
    doc = {
        "repositories": {"default": {"url": pg.repo_url, "passphrase": {"file": str(pg.repo_password_file)}}},
        "jobs": {f"app-{mode}": job},
    }
    path = tmp / "drkit.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _failed(junit: str) -> list[str]:
    return [
        c.get("name", "")
        for c in ET.fromstring(junit).iter("testcase")
        if c.find("failure") is not None or c.find("error") is not None
    ]


def test_logical_drill_passes(tmp_path: Path, pg: PgServer) -> None:
    cfg = _config(tmp_path, pg, "logical")
    before = time.time()
    ok(cfg, "job", "run", "app-logical")
    code, report, junit, _ = drill(cfg, tmp_path, "app-logical")
    (r,) = report["drills"]
    assert code == 0, r
    checks = {c["name"]: c for c in r["checks"]}
    for name in (
        "postgres.accepts_connections",
        "postgres.databases",
        "postgres.row_counts",
        "postgres.checksums",
        "postgres.amcheck",
        "user.sql[0]",
        "canary",
    ):
        assert checks[name]["ok"], checks[name]
    assert "2 tables match" in checks["postgres.row_counts"]["detail"]
    assert "btree indexes verified" in checks["postgres.amcheck"]["detail"]
    assert list(r["phases"]) == ["open", "start", "restore", "verify"]  # in the order they ran
    assert 0 <= r["rpo_catalog_seconds"] <= r["rpo_verified_seconds"] <= time.time() - before + 1
    assert abs(r["rto_seconds"] - sum(r["phases"].values())) <= 0.003  # back to back: they are the RTO
    assert _failed(junit) == []


def test_table_truncated_after_counts_were_recorded(
    tmp_path: Path, pg: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drkit.config import load_config
    from drkit.jobs import run_backup_job

    pg.psql("CREATE TABLE scratch AS SELECT g AS n FROM generate_series(1, 100) g", dbname="app")
    cfg = _config(tmp_path, pg, "logical")
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    run_backup_job(load_config(cfg), "app-logical", facts_hook=lambda facts: pg.psql("TRUNCATE scratch", dbname="app"))
    pg.psql("DROP TABLE scratch", dbname="app")
    code, report, junit, prom = drill(cfg, tmp_path, "app-logical")
    assert code == 21
    (r,) = report["drills"]
    failed = {c["name"]: c["detail"] for c in r["checks"] if not c["ok"]}
    assert set(failed) == {"postgres.row_counts", "postgres.checksums"}, failed
    assert "public.scratch: rows 0 != 100 recorded" in failed["postgres.row_counts"]
    assert "check:postgres.row_counts" in _failed(junit)
    assert require_metric(prom.decode(), "drkit_drill_check_success", check="postgres.row_counts") == 0.0
    assert require_metric(prom.decode(), "drkit_drill_check_success", check="postgres.databases") == 1.0


def _now_utc(pg: PgServer) -> str:
    return pg.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")


def test_physical_and_point_in_time_drills_then_missing_wal(tmp_path: Path, pg: PgServer) -> None:
    cfg = _config(tmp_path, pg, "physical")
    ok(cfg, "job", "run", "app-physical")
    pg.psql("INSERT INTO events (n) VALUES (100001)", dbname="app")
    pg.psql("SELECT pg_switch_wal()")
    time.sleep(1.0)
    between = _now_utc(pg)
    time.sleep(1.0)
    pg.psql("INSERT INTO events (n) VALUES (100002)", dbname="app")
    lost = pg.psql("SELECT pg_walfile_name(pg_current_wal_lsn())")
    pg.psql("SELECT pg_switch_wal()")
    time.sleep(1.0)
    late = _now_utc(pg)
    pg.psql("INSERT INTO events (n) VALUES (100003)", dbname="app")
    pg.psql("SELECT pg_switch_wal()")
    ok(
        cfg,
        "pg",
        "archive-check",
        "--dsn",
        pg.db_url("postgres"),
        "--db-password-file",
        str(pg.db_password_file),
        "--repo",
        pg.repo_url,
        "--password-file",
        str(pg.repo_password_file),
    )

    code, report, _, _ = drill(cfg, tmp_path, "app-physical")
    (snap_drill,) = report["drills"]
    assert code == 0, snap_drill
    names = {c["name"] for c in snap_drill["checks"]}
    assert {"postgres.recovery", "postgres.row_counts", "postgres.checksums", "canary"} <= names
    assert list(snap_drill["phases"]) == ["open", "restore", "recovery", "verify"]
    assert abs(snap_drill["rto_seconds"] - sum(snap_drill["phases"].values())) <= 0.003

    code, report, _, _ = drill(cfg, tmp_path, "app-physical", "--point-in-time", between)
    (pitr,) = report["drills"]
    assert code == 0, pitr
    assert pitr["point_in_time"] == between
    assert [i.split(":")[0] for i in pitr["not_verified"]] == ["row counts and checksums"]  # said, not hidden
    assert snap_drill["not_verified"] == []

    # lose the WAL segment holding the commit between `between` and `late`: `late` is out of reach
    wal_dir = Path(pg.repo_url.removeprefix("file://")) / "wal"
    (segment,) = [p for p in wal_dir.rglob(lost)]
    segment.unlink()
    code, report, junit, prom = drill(cfg, tmp_path, "app-physical", "--point-in-time", late)
    (broken,) = report["drills"]
    assert code == 21, broken
    failed = [c for c in broken["checks"] if not c["ok"]]
    assert [c["name"] for c in failed] == ["restore"], broken["checks"]
    assert "beyond the archived WAL" in failed[0]["detail"]
    assert "check:restore" in _failed(junit)
    assert require_metric(prom.decode(), "drkit_drill_check_success", check="restore") == 0.0
    assert PASS_ENV  # the config's repository passphrase is a file here, not the env
