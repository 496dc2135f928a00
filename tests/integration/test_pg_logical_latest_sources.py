"""`restore postgres latest --logical` in a repository holding dumps of two databases took the newest dump of
either, whichever database it was: now refused (exit 2, one line naming both sources), nothing created;
the dump named by id restores its own database (pg_dump of the source against pg_dump of the restore)."""

from __future__ import annotations

import json
import uuid

import pytest
from clirun import one_line_error
from servers.postgres import PgServer, db_opts, normalised_dump, run

pytestmark = pytest.mark.integration


def _db(server: PgServer, rows: int) -> str:
    db = f"latest_{uuid.uuid4().hex[:8]}"
    server.psql(f"CREATE DATABASE {db}")
    server.psql(
        "CREATE TABLE t (id int PRIMARY KEY, v text); "
        f"INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, {rows}) g",
        dbname=db,
    )
    return db


def test_latest_logical_dump_of_two_databases_is_refused(pg_server: PgServer) -> None:
    app, billing = _db(pg_server, 100), _db(pg_server, 7)
    ids = {}
    for db in (app, billing):
        backup = run(pg_server, "backup", "postgres", "--logical", *db_opts(pg_server, db), "--json")
        assert backup.returncode == 0, backup.stderr.decode()
        ids[db] = json.loads(backup.stdout)["snapshot"]
    target = f"restored_{uuid.uuid4().hex[:8]}"
    pw = ["--db-password-file", str(pg_server.db_password_file)]
    proc = run(pg_server, "restore", "postgres", "latest", "--logical", "--target-dsn", pg_server.db_url(target), *pw)
    assert proc.returncode == 2, proc.stderr.decode()
    line = one_line_error(proc)
    assert "ambiguous" in line and app in line and billing in line, line
    hint = proc.stderr.decode().splitlines()[-1]  # `restore postgres` has no --path/--host/--name: an id
    assert hint.startswith("hint: ") and "snapshot id" in hint and "--path" not in hint, hint
    assert pg_server.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{target}'").strip() == "0"
    proc = run(pg_server, "restore", "postgres", ids[app], "--logical", "--target-dsn", pg_server.db_url(target), *pw)
    assert proc.returncode == 0, proc.stderr.decode()
    assert normalised_dump(pg_server, target) == normalised_dump(pg_server, app)
