"""`drkit restore postgres --logical` without a snapshot restores the newest logical dump. When the
newest dump's manifest is damaged it used to restore the one before with exit 0 (a silent wrong
restore); it refuses (exit 13) naming the damaged snapshot, and --skip-damaged restores the older dump,
which equals a pg_dump of the source taken when that dump was made (independent oracle)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path

import pytest
from clirun import one_line_error
from servers.postgres import PgServer, db_opts, init_repository, normalised_dump, run

pytestmark = pytest.mark.integration


def _dump(server: PgServer, db: str) -> str:
    proc = run(server, "backup", "postgres", "--logical", *db_opts(server, db), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    return str(json.loads(proc.stdout)["snapshot"])


def test_logical_latest_refuses_a_damaged_newest_dump(pg_server: PgServer, tmp_path: Path) -> None:
    # a repository of its own: `latest` is the newest dump of one source, and the session's shared
    # repository holds other databases' dumps (among several `latest` is refused, exit 2)
    pg_server = dataclasses.replace(
        pg_server, repo_url=init_repository(tmp_path / "repo", pg_server.repo_password_file)
    )
    db = f"latest_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f"CREATE DATABASE {db}")
    pg_server.psql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'old')", dbname=db)
    _dump(pg_server, db)
    expected = normalised_dump(pg_server, db)
    pg_server.psql("INSERT INTO t VALUES (2, 'new')", dbname=db)
    newest = _dump(pg_server, db)
    manifest = Path(pg_server.repo_url) / "snapshots" / newest
    manifest.write_bytes(b"damaged in the bucket")
    pw = ["--db-password-file", str(pg_server.db_password_file)]
    refused = run(pg_server, "restore", "postgres", "--logical", "--target-dsn", pg_server.db_url(f"{db}_a"), *pw)
    assert refused.returncode == 13, refused.stderr.decode()
    assert newest[:16] in one_line_error(refused)
    copy = f"{db}_b"
    proc = run(
        pg_server, "restore", "postgres", "--logical", "--skip-damaged", "--target-dsn", pg_server.db_url(copy), *pw
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert normalised_dump(pg_server, copy) == expected
