"""`drkit copy` carries the true end of a base backup's recoverable window, on a real PostgreSQL 15.

A copied WAL object's own time is the time of the copy; taken as the archive time it stretched the
copy's window to the copy, so a point-in-time restore into that false stretch was accepted and
failed only after unpacking everything. The oracle is the source repository's own `pg windows`
(its WAL objects' times are set by wal-push); the copy (local, and S3) must list the same window and
refuse a time past it before writing anything; a time inside it restores exactly (pg_dump of the
source at that time == pg_dump of the restore)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit, one_line_error
from servers.postgres import PgServer, db_opts, make_shared_dir, normalised_dump, run, start_postgres, stop_cluster

pytestmark = pytest.mark.integration

TARGET_PASSWORD = "drkit-copy-target-pass"


@dataclass(frozen=True)
class Source:
    server: PgServer
    inside: str  # a time inside the window
    dump_inside: str  # pg_dump of app at that time
    rows: list[dict[str, Any]]  # the source's `pg windows`

    def copy_into(self, *target: str) -> dict[str, Any]:
        proc = drkit(
            "copy",
            "--from-repo",
            self.server.repo_url,
            "--from-password-file",
            str(self.server.repo_password_file),
            *target,
            "--json",
        )
        assert proc.returncode == 0, proc.stderr.decode()
        return dict(json.loads(proc.stdout))

    def past_the_end(self) -> str:
        return (datetime.fromisoformat(str(self.rows[0]["archived_until"])) + timedelta(seconds=1)).isoformat()


def _windows(*repo: str) -> list[dict[str, Any]]:
    proc = drkit("pg", "windows", "--json", *repo)
    assert proc.returncode == 0, proc.stderr.decode()
    rows: list[dict[str, Any]] = json.loads(proc.stdout)
    return rows


@pytest.fixture(scope="module")
def source() -> Iterator[Source]:
    with start_postgres("drkit-copywin-") as server:
        server.psql("CREATE DATABASE app")
        server.psql("CREATE TABLE t (n int)", dbname="app")
        assert run(server, "backup", "postgres", *db_opts(server, "postgres")).returncode == 0
        server.psql("INSERT INTO t VALUES (1)", dbname="app")
        inside = server.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US+00')")
        dump_inside = normalised_dump(server, "app")
        time.sleep(0.5)  # the next commit is clearly after `inside`
        server.psql("INSERT INTO t VALUES (2)", dbname="app")
        assert run(server, "pg", "archive-check", *db_opts(server, "postgres")).returncode == 0
        rows = _windows("--repo", server.repo_url, "--password-file", str(server.repo_password_file))
        time.sleep(2.0)  # let time pass: a window ending at the copy would now reach past the true end
        yield Source(server, inside, dump_inside, rows)


def _same_windows(copy_rows: list[dict[str, Any]], source: Source) -> None:
    for key in ("archived_until", "to_lsn", "last_segment", "consistent"):
        assert [r[key] for r in copy_rows] == [r[key] for r in source.rows], key


@pytest.mark.slow  # ~25 s with the fixture: a cluster, a base backup, a copy and a started restore
def test_copy_keeps_the_window_end(source: Source) -> None:
    base = make_shared_dir("drkit-copywin-target-")
    pw = base / "pw"
    pw.write_text(TARGET_PASSWORD)
    pw.chmod(0o644)
    target = ["--repo", str(base / "repo"), "--password-file", str(pw)]
    try:
        assert drkit("init", *target).returncode == 0
        assert source.copy_into(*target)["wal_files"] > 0
        # the restored server runs `drkit pg wal-fetch` as user postgres: it must read the repository root made
        # (before, its "permission denied" (exit 14) passed for "not in the archive" and ended recovery early)
        subprocess.run(["chown", "-R", "postgres", str(base / "repo")], check=True)
        copy_rows = _windows(*target)
        _same_windows(copy_rows, source)
        refused = drkit(
            "restore", "postgres", "--target-dir", str(base / "past"), "--point-in-time", source.past_the_end(), *target
        )
        assert refused.returncode == 2 and "beyond the archived WAL" in one_line_error(refused)
        assert not (base / "past").exists()
        restored = drkit(
            "restore",
            "postgres",
            "--target-dir",
            str(base / "data"),
            "--point-in-time",
            source.inside,
            "--start",
            "--json",
            *target,
        )
        assert restored.returncode == 0, restored.stderr.decode()
        port = int(json.loads(restored.stdout)["port"])
        assert normalised_dump(replace(source.server, port=port), "app") == source.dump_inside
        source.copy_into(*target)
        assert _windows(*target) == copy_rows  # repeating the copy records nothing new
    finally:
        stop_cluster(source.server.bindir, base / "data")
        shutil.rmtree(base, ignore_errors=True)


def test_copy_to_s3_keeps_the_window_end(
    source: Source, seaweedfs_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seaweedfs_server.apply_env(monkeypatch)
    url = seaweedfs_server.url(seaweedfs_server.make_bucket("drkit-copywin"), uuid.uuid4().hex[:10])
    pw = tmp_path / "pw"
    pw.write_text(TARGET_PASSWORD)
    target = ["--repo", url, "--password-file", str(pw)]
    assert drkit("init", *target).returncode == 0
    assert source.copy_into(*target)["wal_files"] > 0
    _same_windows(_windows(*target), source)
    refused = drkit(
        "restore", "postgres", "--target-dir", str(tmp_path / "past"), "--point-in-time", source.past_the_end(), *target
    )
    assert refused.returncode == 2 and "beyond the archived WAL" in one_line_error(refused)
    assert not (tmp_path / "past").exists()
