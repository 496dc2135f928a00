"""A WAL file the archive holds but cannot hand over (damaged, a storage outage) stops a
point-in-time recovery with an error; it never promotes the restored server before that WAL.

PostgreSQL takes a restore_command exit status of 1-125 for 'not in the archive' and ends recovery
there: to 'latest', it would promote early and the restore report success. Here the segment with the
second commit is damaged in the repository and is not prefetched (the prefetch is capped at one
segment), so the restored server's `drkit pg wal-fetch` reads it and fails."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from clirun import drkit, one_line_error
from servers.postgres import PgServer, db_opts, make_shared_dir, repo_args, run, start_postgres, stop_cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _commit_in_own_segment(server: PgServer, n: int) -> str:
    """Commit row ``n`` and switch: the name of the segment that holds it."""
    name = server.psql("SELECT pg_walfile_name(pg_current_wal_insert_lsn())")
    server.psql(f"INSERT INTO events VALUES ({n})", dbname="app")
    server.psql("SELECT pg_switch_wal()")
    return name


def test_a_damaged_archived_segment_fails_recovery_to_latest() -> None:
    with start_postgres("drkit-pitr-fetchfail-") as server:
        server.psql("CREATE DATABASE app")
        server.psql("CREATE TABLE events (n int PRIMARY KEY)", dbname="app")
        backup = run(server, "backup", "postgres", *db_opts(server, "postgres"))
        assert backup.returncode == 0, backup.stderr.decode()
        _commit_in_own_segment(server, 1)
        second = _commit_in_own_segment(server, 2)
        server.psql("INSERT INTO events VALUES (3)", dbname="app")
        check = run(server, "pg", "archive-check", *db_opts(server, "postgres"))
        assert check.returncode == 0, check.stderr.decode()
        obj = Path(server.repo_url, "wal", second[:8], second)
        body = bytearray(obj.read_bytes())
        body[-1] ^= 0xFF  # the seal no longer opens: wal-fetch fails with exit 13
        obj.write_bytes(bytes(body))

        data = make_shared_dir("drkit-pitr-fetchfail-restore-") / "data"
        try:
            proc = drkit(
                "restore",
                "postgres",
                "--target-dir",
                str(data),
                "--start",
                *repo_args(server),
                env={"DRKIT_WAL_PREFETCH_MAX": "1"},
                timeout=600,
            )
            assert proc.returncode != 0, "recovery promoted before the damaged segment: " + proc.stdout.decode()
            line = one_line_error(proc)
            assert "could not restore file" in line and second in line, line
            assert not (data / "postmaster.pid").exists(), "the failed recovery's server is stopped"
        finally:
            stop_cluster(server.bindir, data)
            shutil.rmtree(data.parent, ignore_errors=True)
