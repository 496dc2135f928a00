"""`drkit copy` carries the true end of a base backup's recoverable window, on a real PostgreSQL 15.

A copied WAL object's own time is the time of the copy; taken as the archive time it stretched the
copy's window to the copy, so a point-in-time restore into that false stretch was accepted and
failed only after unpacking everything. The oracle is the source repository's own `pg windows`
(its WAL objects' times are set by wal-push); the copy must list the same window, refuse a time
past it before writing anything, and restore a time inside it exactly (pg_dump of the source at
that time == pg_dump of the restore)."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from clirun import drkit, one_line_error
from servers.postgres import (
    REPO_PASSWORD,
    PgServer,
    db_opts,
    make_shared_dir,
    normalised_dump,
    run,
    start_postgres,
    stop_cluster,
)

pytestmark = pytest.mark.integration

TARGET_PASSWORD = "drkit-copy-target-pass"


def _windows(*repo: str) -> list[dict[str, object]]:
    proc = drkit("pg", "windows", "--json", *repo)
    assert proc.returncode == 0, proc.stderr.decode()
    rows: list[dict[str, object]] = json.loads(proc.stdout)
    return rows


def _utc_now(server: PgServer) -> str:
    return server.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US+00')")


@pytest.mark.slow  # ~25 s: a cluster, a base backup, a copy and a started restore
def test_copy_keeps_the_window_end(tmp_path: Path) -> None:
    with start_postgres("drkit-copywin-") as server:
        server.psql("CREATE DATABASE app")
        server.psql("CREATE TABLE t (n int)", dbname="app")
        assert run(server, "backup", "postgres", *db_opts(server, "postgres")).returncode == 0
        server.psql("INSERT INTO t VALUES (1)", dbname="app")
        inside = _utc_now(server)
        dump_inside = normalised_dump(server, "app")
        time.sleep(0.5)  # the next commit is clearly after `inside`
        server.psql("INSERT INTO t VALUES (2)", dbname="app")
        assert run(server, "pg", "archive-check", *db_opts(server, "postgres")).returncode == 0
        source_rows = _windows("--repo", server.repo_url, "--password-file", str(server.repo_password_file))
        time.sleep(2.0)  # let time pass: a window ending at the copy would now reach past the true end

        base = make_shared_dir("drkit-copywin-target-")
        pw = base / "pw"
        pw.write_text(TARGET_PASSWORD)
        pw.chmod(0o644)
        target = ["--repo", str(base / "repo"), "--password-file", str(pw)]
        try:
            assert drkit("init", *target).returncode == 0
            copied = drkit(
                "copy",
                "--from-repo",
                server.repo_url,
                "--from-password-file",
                str(server.repo_password_file),
                *target,
                "--json",
            )
            assert copied.returncode == 0, copied.stderr.decode()
            assert json.loads(copied.stdout)["wal_files"] > 0
            copy_rows = _windows(*target)
            assert [r["archived_until"] for r in copy_rows] == [r["archived_until"] for r in source_rows]
            assert [r["to_lsn"] for r in copy_rows] == [r["to_lsn"] for r in source_rows]

            end = datetime.fromisoformat(str(source_rows[0]["archived_until"]))
            past = (end + timedelta(seconds=1)).isoformat()
            refused = drkit("restore", "postgres", "--target-dir", str(base / "past"), "--point-in-time", past, *target)
            assert refused.returncode == 2 and "beyond the archived WAL" in one_line_error(refused)
            assert not (base / "past").exists()

            restored = drkit(
                "restore",
                "postgres",
                "--target-dir",
                str(base / "data"),
                "--point-in-time",
                inside,
                "--start",
                "--json",
                *target,
            )
            assert restored.returncode == 0, restored.stderr.decode()
            port = int(json.loads(restored.stdout)["port"])
            assert normalised_dump(replace(server, port=port), "app") == dump_inside
            again = drkit(
                "copy",
                "--from-repo",
                server.repo_url,
                "--from-password-file",
                str(server.repo_password_file),
                *target,
                "--json",
            )
            assert again.returncode == 0 and _windows(*target) == copy_rows  # repeating records nothing new
        finally:
            stop_cluster(server.bindir, base / "data")
            shutil.rmtree(base, ignore_errors=True)
    assert REPO_PASSWORD not in copied.stderr.decode()
