"""`--target-name` on a cluster whose encoding is not UTF-8 (LATIN1), on a real PostgreSQL 15.

Restore point names are stored in the WAL in the server's encoding, and pg_waldump prints them as
they are: a name with a LATIN1 byte that is not UTF-8 anywhere in the searched WAL must not break
the search for another restore point."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import pytest
from servers.postgres import PgServer, db_opts, make_shared_dir, run, start_postgres

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def latin1() -> Iterator[tuple[PgServer, str]]:
    with start_postgres("drkit-rpbytes-", encoding="LATIN1") as server:
        backup = run(server, "backup", "postgres", *db_opts(server, "postgres"), "--json")
        assert backup.returncode == 0, backup.stderr.decode()
        server.psql("CREATE TABLE t (n int)")
        server.psql("SELECT pg_create_restore_point('f' || chr(248))")  # 'fø': byte 0xF8 in the WAL, not UTF-8
        server.psql("INSERT INTO t VALUES (1)")
        server.psql("SELECT pg_create_restore_point('plain')")
        check = run(server, "pg", "archive-check", *db_opts(server, "postgres"))
        assert check.returncode == 0, check.stderr.decode()
        yield server, str(json.loads(backup.stdout)["snapshot"])


def test_search_reads_past_a_name_that_is_not_utf8(latin1: tuple[PgServer, str]) -> None:
    server, base_id = latin1
    base = make_shared_dir("drkit-rpbytes-restore-")
    try:
        proc = run(
            server, "restore", "postgres", "--target-dir", str(base / "data"), "--target-name", "plain", "--json"
        )
        assert proc.returncode == 0, proc.stderr.decode()
        assert json.loads(proc.stdout)["snapshot"] == base_id
        conf = (base / "data" / "postgresql.auto.conf").read_text()
        assert "recovery_target_name = 'plain'" in conf
    finally:
        shutil.rmtree(base, ignore_errors=True)
