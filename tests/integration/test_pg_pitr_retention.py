"""PITR-aware retention on a real PostgreSQL 15: two base backups with WAL between them; forgetting the
older one removes the WAL only it needed (segments that end before the newer one starts) and keeps the
rest; recovery to a time inside the kept window works, to a time before it is refused (exit 2)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from clirun import drkit, one_line_error
from servers.postgres import (
    DB_PASSWORD,
    REPO_PASSWORD,
    PgServer,
    db_opts,
    init_repository,
    make_shared_dir,
    run,
    start_postgres,
    stop_cluster,
)

from drkit.sources.postgres.wal import parse_lsn, segment_number

pytestmark = pytest.mark.integration


def _commit(server: PgServer, n: int) -> str:
    server.psql(f"INSERT INTO events VALUES ({n}, clock_timestamp())", dbname="app")
    server.psql("SELECT pg_switch_wal()")
    return str(server.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US+00')"))


def _base_backup(server: PgServer) -> dict[str, str]:
    proc = run(server, "backup", "postgres", *db_opts(server, "postgres"), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    snap_id = json.loads(proc.stdout)["snapshot"]
    snaps = json.loads(run(server, "snapshots", "--json").stdout)
    meta: dict[str, str] = next(s for s in snaps if s["id"] == snap_id)["meta"]
    return {"id": snap_id, **meta}


def _wal_names(server: PgServer) -> set[str]:
    return {p.name for p in (Path(server.repo_url) / "wal").rglob("*") if p.is_file()}


def _rows_at(server: PgServer, when: str, repo: list[str] | None = None) -> subprocess.CompletedProcess[bytes] | str:
    base = make_shared_dir("drkit-pitr-keep-")
    data = base / "data"
    try:
        args = ("restore", "postgres", "--target-dir", str(data), "--point-in-time", when, "--start", "--json")
        proc: subprocess.CompletedProcess[bytes] = drkit(*args, *repo) if repo else run(server, *args)
        if proc.returncode != 0:
            return proc
        port = json.loads(proc.stdout)["port"]
        out = subprocess.run(
            [
                str(server.bindir / "psql"),
                "-X",
                "-A",
                "-t",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "-d",
                "app",
                "-c",
                "SELECT string_agg(n::text, ',' ORDER BY n) FROM events",
            ],
            capture_output=True,
            env={**server.env(), "PGPASSWORD": DB_PASSWORD},
            check=False,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr.decode()
        return out.stdout.decode().strip()
    finally:
        if data.exists():
            stop_cluster(server.bindir, data)
        shutil.rmtree(base, ignore_errors=True)


def test_forget_keeps_the_wal_the_retained_base_backup_needs() -> None:
    with start_postgres("drkit-pitr-keep-") as server:
        server.psql("CREATE DATABASE app")
        server.psql("CREATE TABLE events (n int PRIMARY KEY, at timestamptz)", dbname="app")
        _commit(server, 1)
        old = _base_backup(server)
        time.sleep(1.0)
        before_new = _commit(server, 2)  # only the older base backup can recover to here
        time.sleep(1.0)
        _commit(server, 3)
        new = _base_backup(server)
        _commit(server, 4)
        inside = _commit(server, 5)
        time.sleep(1.0)
        _commit(server, 6)
        assert run(server, "pg", "archive-check", *db_opts(server, "postgres")).returncode == 0
        archived = _wal_names(server)

        proc = run(server, "forget", "--keep-last", "1", "--source", "postgres", "--json")
        assert proc.returncode == 0, proc.stderr.decode()
        result = json.loads(proc.stdout)
        assert [d["id"] for d in result["decisions"] if not d["keep"]] == [old["id"]]
        [window] = result["windows"]  # the point-in-time impact, said (`drkit forget` prints it too)
        assert "the point-in-time window now starts at" in window and new["id"][:8] in window, window
        seg_size, start = int(new["wal_segment_size"]), parse_lsn(new["start_lsn"])
        assert result["wal"]["horizon"] == new["start_lsn"] and result["wal"]["removed"]
        for name in result["wal"]["removed"]:  # each one ends before the kept base backup starts
            assert (segment_number(name[:24], seg_size) + 1) * seg_size <= start
        left = _wal_names(server)
        assert left == archived - set(result["wal"]["removed"])
        needed = [
            n
            for n in archived
            if not n.endswith(".history") and (segment_number(n[:24], seg_size) + 1) * seg_size > start
        ]
        assert needed and set(needed) <= left

        assert _rows_at(server, inside) == "1,2,3,4,5"
        refused = _rows_at(server, before_new)
        assert isinstance(refused, subprocess.CompletedProcess) and refused.returncode == 2
        assert "older than every base backup" in one_line_error(refused)
        assert run(server, "check", "--read-data").returncode == 0

        copy_dir = make_shared_dir("drkit-pitr-copy-")  # the kept base backup and its WAL travel together
        try:
            target = [
                "--repo",
                init_repository(copy_dir / "repo", copy_dir / "pw"),
                "--password-file",
                str(copy_dir / "pw"),
            ]
            copied = drkit(
                "copy", "--from-repo", server.repo_url, *target, "--json", env={"DRKIT_FROM_PASSWORD": REPO_PASSWORD}
            )
            assert copied.returncode == 0, copied.stderr.decode()
            assert json.loads(copied.stdout)["wal_files"] == len(left)
            assert _rows_at(server, inside, target) == "1,2,3,4,5"
        finally:
            shutil.rmtree(copy_dir, ignore_errors=True)
