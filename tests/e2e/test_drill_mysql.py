"""A MySQL job end to end: `drkit job run` of a `kind: mysql` source from drkit.yaml (facts, canary,
dump), then `drkit drill` restoring it into a throwaway local MariaDB the drill starts itself: the
row counts recorded at backup time must match the restored tables, and the canary gives the
verified RPO. A table emptied after its count was recorded fails the drill (exit 21)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clirun import drkit
from drillkit import ENV, drill, init_repo, ok, write_config
from servers.mariadb import PASSWORD, MariaDB

pytestmark = pytest.mark.e2e


def _config(tmp_path: Path, server: MariaDB, db: str, checks: list[object], **extra: object) -> Path:
    repo = init_repo(tmp_path / "repo")
    source = {"kind": "mysql", "url": server.url(db), "password_env": "SHOP_DB_PW", **extra}
    return write_config(tmp_path / "drkit.yaml", repo, {"shop": {"source": source, "checks": checks}})


@pytest.fixture
def shop(mysql_server: MariaDB, monkeypatch: pytest.MonkeyPatch) -> str:
    db = f"drill_{uuid.uuid4().hex[:8]}"
    mysql_server.sql(f"CREATE DATABASE {db}")
    mysql_server.sql(
        "CREATE TABLE orders (id INT PRIMARY KEY, total DECIMAL(8,2)); "
        "CREATE TABLE scratch (n INT); "
        "INSERT INTO orders VALUES (1, 9.99), (2, 20.00), (3, 0.01); "
        "INSERT INTO scratch VALUES (1), (2)",
        db,
    )
    monkeypatch.setenv("SHOP_DB_PW", PASSWORD)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return db


def test_job_run_then_drill_passes_with_canary(tmp_path: Path, mysql_server: MariaDB, shop: str) -> None:
    checks = [
        {"sql": "SELECT COUNT(*) FROM orders", "expect": "3"},
        {"sql": "SELECT NULL", "expect": None},
        {"path_exists": "/nowhere"},
    ]
    cfg = _config(tmp_path, mysql_server, shop, checks, pitr=True)
    before = time.time()
    ok(cfg, "job", "run", "shop")
    assert _newest_meta(tmp_path / "repo")["binlog"]["file"].startswith("binlog.")  # pitr: position recorded
    code, report, _, _ = drill(cfg, tmp_path, "shop")
    (r,) = report["drills"]
    assert code == 0, r["checks"]
    checks = {c["name"]: c for c in r["checks"]}
    assert checks["mysql.rows.orders"]["ok"] and checks["mysql.rows.orders"]["detail"].startswith("3 rows")
    assert checks["mysql.rows.scratch"]["ok"]
    assert checks["user.sql[0]"]["ok"] and checks["user.sql[1]"]["ok"]
    assert r["not_verified"] == ["checks: 1 non-SQL check(s) are not run by a mysql drill"]
    assert checks["canary"]["ok"], checks["canary"]
    assert r["sandbox"] == "local" and {"restore", "verify"} <= set(r["phases"])
    assert 0 <= r["rpo_verified_seconds"] <= time.time() - before + 1
    # the canary table is in the source, written by the job run
    assert mysql_server.sql("SELECT job FROM drkit_canary", shop).split() == ["shop"]


def _newest_meta(repo: Path) -> dict[str, object]:
    from drkit.ops.session import open_repository
    from drkit.repository import snapshots

    opened = open_repository(str(repo), ENV["DRKIT_PASSWORD"])
    try:
        return dict(snapshots.load_all(opened.manifests)[-1].meta)
    finally:
        opened.close()


def _covered_until(repo: Path, name: str) -> float:
    """The reach the binary-log archive of source ``name`` records (its newest marker)."""
    from drkit.ops.session import open_repository
    from drkit.sources.mysql.binlog import covered_until

    opened = open_repository(str(repo), ENV["DRKIT_PASSWORD"])
    try:
        covered = covered_until(opened, name)
    finally:
        opened.close()
    assert covered is not None
    return covered


def test_rows_lost_after_facts_were_recorded_fail_the_drill(tmp_path: Path, mysql_server: MariaDB, shop: str) -> None:
    from drkit.config import load_config
    from drkit.jobs import run_backup_job

    checks = [
        {"sql": "SELECT 'NULL'", "expect": None},
        {"sql": "SELECT CONCAT('a', CHAR(9), 'b\\nc')", "expect": "a\tb\nc"},
    ]
    cfg = _config(tmp_path, mysql_server, shop, checks)
    run_backup_job(load_config(cfg), "shop", facts_hook=lambda facts: mysql_server.sql("DELETE FROM scratch", shop))
    code, report, _, _ = drill(cfg, tmp_path, "shop")
    assert code == 21
    (r,) = report["drills"]
    failed = {c["name"]: c["detail"] for c in r["checks"] if not c["ok"]}
    assert set(failed) == {"mysql.rows.scratch", "user.sql[0]"}, failed  # the text 'NULL' is not SQL NULL
    assert failed["mysql.rows.scratch"] == "0 rows (recorded at backup: 2)"
    assert failed["user.sql[0]"] == "got 'NULL', expected NULL"


def _server_second(server: MariaDB) -> int:
    return int(server.sql("SELECT UNIX_TIMESTAMP()").strip())


def test_point_in_time_drill_replays_archived_binary_logs(tmp_path: Path, mysql_server: MariaDB, shop: str) -> None:
    """The drill restores the --pitr dump plus the archived binary logs up to the target: the user's SQL
    check sees the rows as they were at that instant (4), not at the dump (3) nor now (5)."""
    checks = [{"sql": "SELECT COUNT(*) FROM orders", "expect": "4"}]
    cfg = _config(tmp_path, mysql_server, shop, checks, pitr=True)
    ok(cfg, "job", "run", "shop")
    mysql_server.sql("INSERT INTO orders VALUES (4, 4.00)", shop)
    start = _server_second(mysql_server)
    deadline = time.monotonic() + 30
    while _server_second(mysql_server) <= start:  # the target: the next whole second of the server's clock
        assert time.monotonic() < deadline
        time.sleep(0.05)
    target = datetime.fromtimestamp(start + 1, UTC).isoformat()
    mysql_server.sql("INSERT INTO orders VALUES (5, 5.00)", shop)
    repo = ["--repo", str(tmp_path / "repo")]
    archive = drkit(
        "mysql",
        "binlog-archive",
        "--url",
        mysql_server.url(),
        "--name",
        "shop",
        *repo,
        env={**ENV, "DRKIT_MYSQL_PASSWORD": PASSWORD},
    )
    assert archive.returncode == 0, archive.stderr.decode()
    code, report, _, _ = drill(cfg, tmp_path, "shop", "--point-in-time", target)
    (r,) = report["drills"]
    assert code == 0, r["checks"]
    checks_by_name = {c["name"]: c for c in r["checks"]}
    assert checks_by_name["user.sql[0]"]["ok"], checks_by_name["user.sql[0]"]
    assert "binary log(s) up to" in checks_by_name["restore"]["detail"]
    assert checks_by_name["canary"]["ok"]
    assert "mysql.rows: a point-in-time restore has no recorded row counts to match" in r["not_verified"]
    # the catalog RPO counts from what the binary-log archive covers, not from the job's dump
    covered = datetime.fromtimestamp(_covered_until(tmp_path / "repo", "shop"), UTC)
    started = datetime.fromisoformat(r["started_at"])
    assert r["rpo_catalog_seconds"] == pytest.approx((started - covered).total_seconds(), abs=0.002)
