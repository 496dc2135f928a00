"""Physical base backup + WAL archive + point-in-time recovery on a real PostgreSQL 15.

Rows are committed at T1 < T2 < T3 (with pg_switch_wal() between); recovering to a time, an LSN
or a named restore point between T2 and T3 gives exactly rows 1-2; latest gives all three. Each
restored server is started by drkit (`--start`, as the postgres user, on a free port), queried,
and stopped."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from clirun import one_line_error
from servers.postgres import (
    DB_PASSWORD,
    REPO_PASSWORD,
    PgServer,
    assert_no_password,
    db_opts,
    make_shared_dir,
    run,
    start_postgres,
    stop_cluster,
)

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class History:
    server: PgServer
    snapshot: str
    between_time: str  # after T2's commit, before T3's
    between_lsn: str
    outputs: list[bytes]


def _commit(server: PgServer, n: int) -> None:
    server.psql(f"INSERT INTO events VALUES ({n}, clock_timestamp())", dbname="app")
    server.psql("SELECT pg_switch_wal()")


@pytest.fixture(scope="module")
def history() -> Iterator[History]:
    with start_postgres("drkit-pitr-") as server:
        outputs: list[bytes] = []
        server.psql("CREATE DATABASE app")
        server.psql("CREATE TABLE events (n int PRIMARY KEY, at timestamptz)", dbname="app")
        backup = run(server, "backup", "postgres", *db_opts(server, "postgres"), "--json", outputs=outputs)
        assert backup.returncode == 0, backup.stderr.decode()
        _commit(server, 1)
        time.sleep(1.0)
        _commit(server, 2)
        lsn = server.psql("SELECT pg_current_wal_lsn()")
        server.psql("SELECT pg_create_restore_point('after_t2')")
        between = server.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US+00')")
        time.sleep(1.0)
        _commit(server, 3)
        check = run(server, "pg", "archive-check", *db_opts(server, "postgres"), outputs=outputs)
        assert check.returncode == 0, check.stderr.decode()
        yield History(server, json.loads(backup.stdout)["snapshot"], between, lsn, outputs)


def _restore(h: History, *target: str) -> tuple[subprocess.CompletedProcess[bytes], Path]:
    base = make_shared_dir("drkit-pitr-restore-")
    data = base / "data"
    proc = run(
        h.server, "restore", "postgres", "--target-dir", str(data), *target, "--start", "--json", outputs=h.outputs
    )
    return proc, data


def _rows_after(h: History, *target: str) -> str:
    proc, data = _restore(h, *target)
    try:
        assert proc.returncode == 0, proc.stderr.decode()
        port = json.loads(proc.stdout)["port"]
        conf = (data / "postgresql.auto.conf").read_text()
        assert "wal-fetch %f %p" in conf and "--password-file" in conf and REPO_PASSWORD not in conf
        out = subprocess.run(
            [
                str(h.server.bindir / "psql"),
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
            env={**h.server.env(), "PGPASSWORD": DB_PASSWORD},
            check=False,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr.decode()
        return out.stdout.decode().strip()
    finally:
        stop_cluster(h.server.bindir, data)
        shutil.rmtree(data.parent, ignore_errors=True)


def test_pitr_to_time_between_t2_and_t3(history: History) -> None:
    assert _rows_after(history, "--point-in-time", history.between_time) == "1,2"


def test_pitr_to_latest(history: History) -> None:
    assert _rows_after(history) == "1,2,3"


def test_pitr_to_lsn(history: History) -> None:
    assert _rows_after(history, "--target-lsn", history.between_lsn) == "1,2"


def test_pitr_to_named_restore_point(history: History) -> None:
    assert _rows_after(history, "--target-name", "after_t2") == "1,2"


def test_target_older_than_every_base_backup(history: History) -> None:
    base = make_shared_dir("drkit-pitr-old-")
    data = base / "data"
    try:
        proc = run(
            history.server,
            "restore",
            "postgres",
            "--target-dir",
            str(data),
            "--point-in-time",
            "2000-01-01 00:00:00+00",
        )
        assert proc.returncode == 2
        assert "older than every base backup" in one_line_error(proc)
        assert not data.exists()
        lsn = run(history.server, "restore", "postgres", "--target-dir", str(data), "--target-lsn", "0/10")
        assert lsn.returncode == 2 and not data.exists()
        beyond = run(history.server, "restore", "postgres", "--target-dir", str(data), "--target-lsn", "FF/0")
        assert beyond.returncode == 2 and "beyond the archived WAL" in one_line_error(beyond)
        future = run(
            history.server,
            "restore",
            "postgres",
            "--target-dir",
            str(data),
            "--point-in-time",
            "2999-01-01 00:00:00+00",
        )
        assert future.returncode == 2 and "beyond the archived WAL" in one_line_error(future)
        assert not data.exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_windows_show_recoverable_range(history: History) -> None:
    proc = run(history.server, "pg", "windows", "--json", outputs=history.outputs)
    assert proc.returncode == 0, proc.stderr.decode()
    (row,) = json.loads(proc.stdout)
    assert row["snapshot"] == history.snapshot and row["consistent"]
    assert _lsn(row["to_lsn"]) > _lsn(history.between_lsn)
    text = run(history.server, "pg", "windows")
    assert history.snapshot[:8] in text.stdout.decode()
    assert_no_password(history.outputs)


def _lsn(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)
