"""A physical base backup ends only once its WAL is archived, on a real PostgreSQL 15.

The server's archive_command is slowed down (2 s before each `drkit pg wal-push`), so without the
wait the stop segment is certainly not archived when the backup command returns."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from clirun import one_line_error
from servers.postgres import PgServer, db_opts, run, start_postgres

pytestmark = pytest.mark.integration


def _set_archive_command(server: PgServer, command: str) -> None:
    server.psql(f"ALTER SYSTEM SET archive_command = '{command}'")
    server.psql("SELECT pg_reload_conf()")


@pytest.fixture(scope="module")
def slow_archiver() -> Iterator[PgServer]:
    with start_postgres("drkit-walwait-") as server:
        original = server.psql("SHOW archive_command")
        _set_archive_command(server, f"sleep 2 && {original}")
        yield server


def _windows(server: PgServer) -> dict[str, dict[str, object]]:
    proc = run(server, "pg", "windows", "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    return {row["snapshot"]: row for row in json.loads(proc.stdout)}


def test_backup_is_recoverable_when_the_command_returns(slow_archiver: PgServer) -> None:
    slow_archiver.psql("CREATE TABLE IF NOT EXISTS t (n int); INSERT INTO t VALUES (1)")
    proc = run(slow_archiver, "backup", "postgres", *db_opts(slow_archiver, "postgres"), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    snap = json.loads(proc.stdout)["snapshot"]
    assert _windows(slow_archiver)[snap]["consistent"] is True


def test_wal_that_never_arrives_is_an_error_naming_the_segment(slow_archiver: PgServer) -> None:
    original = slow_archiver.psql("SHOW archive_command")
    _set_archive_command(slow_archiver, "false")
    try:
        proc = run(slow_archiver, "backup", "postgres", *db_opts(slow_archiver, "postgres"), "--archive-timeout", "3")
        assert proc.returncode == 1
        line = one_line_error(proc)
        assert "did not reach the archive within 3 s" in line and "WAL segment 00000001" in line
        snap = line.split("base backup ", 1)[1].split(" ", 1)[0]
        assert (
            _windows(slow_archiver)[next(s for s in _windows(slow_archiver) if s.startswith(snap))]["consistent"]
            is False
        )  # saved, and listed as not recoverable yet
    finally:
        _set_archive_command(slow_archiver, original)
    check = run(slow_archiver, "pg", "archive-check", *db_opts(slow_archiver, "postgres"))
    assert check.returncode == 0, check.stderr.decode()
    assert all(row["consistent"] for row in _windows(slow_archiver).values())
