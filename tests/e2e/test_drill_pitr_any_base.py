"""A point-in-time drill of a base backup that `drkit job run` did not take (issue 19): taken by
`drkit backup postgres` directly, it has no facts and the source has no canary. The drill verifies what
can be verified without them — recovery reaches the target, the server answers, amcheck, the user's
checks (here: the exact rows at the target, read from the source at that instant) — passes, and
says in every report what it did not verify."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from drillkit import drill, ok
from servers.postgres import PgServer, db_opts, run, start_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]  # two PITR drills: ~25-30 s

ROWS_SQL = "SELECT count(*) || ':' || coalesce(string_agg(n::text, ',' ORDER BY n), '') FROM events WHERE n > 100"


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    with start_postgres("drkit-drill-anybase-") as server:
        server.psql("CREATE DATABASE app")
        server.psql("CREATE TABLE events (n int PRIMARY KEY, note text)", dbname="app")
        server.psql("INSERT INTO events SELECT g, md5(g::text) FROM generate_series(1, 100) g", dbname="app")
        yield server


def _config(tmp: Path, pg: PgServer, expect: str) -> Path:
    job = {
        "source": {
            "kind": "postgres",
            "dsn": pg.db_url("app"),
            "password": {"file": str(pg.db_password_file)},
            "mode": "physical",
        },
        "checks": [{"sql": ROWS_SQL, "expect": expect}],
    }
    doc = {
        "repositories": {"default": {"url": pg.repo_url, "passphrase": {"file": str(pg.repo_password_file)}}},
        "jobs": {"app-physical": job},
    }
    path = tmp / "drkit.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _now_utc(pg: PgServer) -> str:
    return pg.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")


def test_point_in_time_drill_of_a_base_backup_not_taken_by_job_run(tmp_path: Path, pg: PgServer) -> None:
    backup = run(pg, "backup", "postgres", *db_opts(pg, "postgres"))
    assert backup.returncode == 0, backup.stderr.decode()
    pg.psql("INSERT INTO events VALUES (101, 'a'), (102, 'b')", dbname="app")
    pg.psql("SELECT pg_switch_wal()")
    target = _now_utc(pg)
    at_target = pg.psql(ROWS_SQL, dbname="app")  # the oracle: the source itself at the target instant
    pg.psql("INSERT INTO events VALUES (103, 'c')", dbname="app")
    check = run(pg, "pg", "archive-check", *db_opts(pg, "postgres"))
    assert check.returncode == 0, check.stderr.decode()
    assert at_target == "2:101,102"

    cfg = _config(tmp_path, pg, at_target)
    code, report, junit, _ = drill(cfg, tmp_path, "app-physical", "--point-in-time", target)
    (r,) = report["drills"]
    assert code == 0, (r["checks"], r["targets"], r.get("error"))
    checks = {c["name"]: c for c in r["checks"]}
    assert all(c["ok"] for c in r["checks"]), r["checks"]
    assert "postgres.facts" not in checks and "canary" not in checks
    for name in ("postgres.recovery", "postgres.accepts_connections", "postgres.amcheck", "user.sql[0]"):
        assert checks[name]["ok"], checks
    assert "time" in checks["postgres.recovery"]["detail"]
    assert sorted(i.split(":")[0] for i in r["not_verified"]) == ["canary", "facts"], r["not_verified"]
    assert r["rpo_catalog_seconds"] is not None and r["rto_seconds"] is not None  # targets measured
    skipped = [c for c in ET.fromstring(junit).iter("testcase") if c.find("skipped") is not None]
    assert skipped and all(c.get("name", "").startswith("not-verified:") for c in skipped)

    # the same user check at a later instant fails: the drill compares, it does not wave through
    later = _config(tmp_path, pg, at_target)
    after = _now_utc(pg)  # row 103 is in, 104 not yet
    pg.psql("INSERT INTO events VALUES (104, 'd')", dbname="app")
    ok(
        later,
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
    code, report, _, _ = drill(later, tmp_path, "app-physical", "--point-in-time", after)
    (r,) = report["drills"]
    assert code == 21, r
    assert [c["name"] for c in r["checks"] if not c["ok"]] == ["user.sql[0]"], r["checks"]
