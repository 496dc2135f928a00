"""A logical restore never reverts roles on the target (issue 20): without ``--globals`` it does
not touch roles at all; with ``--globals`` it creates the backup's roles the target lacks and
leaves existing ones exactly as they are, naming them. Real PostgreSQL 15; logins are tried for
real over scram-sha-256."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest
from clirun import one_line_error
from servers.postgres import PgServer, assert_no_password, db_opts, normalised_dump, run

pytestmark = pytest.mark.integration

OLD_PW, NEW_PW = "old-Reader-pw-1f2e", "new-Reader-pw-9c8d"


def _can_login(server: PgServer, role: str, password: str) -> bool:
    try:
        with psycopg.connect(
            host="127.0.0.1", port=server.port, user=role, password=password, dbname="postgres", connect_timeout=10
        ):
            return True
    except psycopg.OperationalError:
        return False


def _setup(server: PgServer) -> tuple[str, str, str, str]:
    """A database owned by ``owner`` whose table ``reader`` and ``locked`` may read; both log in."""
    tag = uuid.uuid4().hex[:8]
    db, owner, reader, locked = f"app_{tag}", f"owner_{tag}", f"reader_{tag}", f"locked_{tag}"
    server.psql(f"CREATE ROLE {owner} NOLOGIN")
    server.psql(f"CREATE ROLE {reader} LOGIN PASSWORD '{OLD_PW}'")
    server.psql(f"CREATE ROLE {locked} LOGIN PASSWORD '{OLD_PW}'")
    server.psql(f"CREATE DATABASE {db} OWNER {owner}")
    server.psql(
        f"SET ROLE {owner}; CREATE TABLE t (id int PRIMARY KEY, v text); "
        "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 200) g; "
        f"GRANT SELECT ON t TO {reader}, {locked}",
        dbname=db,
    )
    return db, owner, reader, locked


def _backup(server: PgServer, db: str) -> str:
    proc = run(server, "backup", "postgres", "--logical", *db_opts(server, db), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    return str(json.loads(proc.stdout)["snapshot"])


def _restore(server: PgServer, snap: str, db: str, *extra: str) -> tuple[int, str, str]:
    proc = run(
        server,
        "restore",
        "postgres",
        snap,
        "--logical",
        "--target-dsn",
        server.db_url(db),
        "--db-password-file",
        str(server.db_password_file),
        *extra,
    )
    assert_no_password([proc.stdout, proc.stderr])
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def test_default_restore_keeps_a_rotated_password(pg_server: PgServer) -> None:
    db, _, reader, locked = _setup(pg_server)
    snap = _backup(pg_server, db)
    pg_server.psql(f"ALTER ROLE {reader} PASSWORD '{NEW_PW}'")
    pg_server.psql(f"ALTER ROLE {locked} NOLOGIN")
    code, _, err = _restore(pg_server, snap, f"{db}_copy")
    assert code == 0, err
    assert normalised_dump(pg_server, f"{db}_copy") == normalised_dump(pg_server, db)
    assert not _can_login(pg_server, reader, OLD_PW)
    assert _can_login(pg_server, reader, NEW_PW)
    assert not _can_login(pg_server, locked, OLD_PW)


def test_globals_creates_missing_roles_and_leaves_existing_ones(pg_server: PgServer) -> None:
    db, owner, reader, locked = _setup(pg_server)
    snap = _backup(pg_server, db)
    pg_server.psql(f"ALTER ROLE {reader} PASSWORD '{NEW_PW}'")
    pg_server.psql(f"ALTER ROLE {locked} NOLOGIN")
    pg_server.psql(f"DROP DATABASE {db}")
    pg_server.psql(f"DROP ROLE {owner}")
    code, out, err = _restore(pg_server, snap, db, "--globals", "--json")
    assert code == 0, err
    doc = json.loads(out)["globals"]
    assert doc["created_roles"] == [owner]
    assert {reader, locked, "postgres"} <= set(doc["kept_roles"])
    assert owner not in doc["kept_roles"]
    assert reader in err and locked in err and "left unchanged" in err
    assert not _can_login(pg_server, reader, OLD_PW)
    assert _can_login(pg_server, reader, NEW_PW)
    assert not _can_login(pg_server, locked, OLD_PW)
    assert pg_server.psql(f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{locked}'") == "f"
    assert pg_server.psql(f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{db}'") == owner
    assert pg_server.psql("SELECT count(*) FROM t", dbname=db) == "200"


def test_missing_role_without_globals_fails_and_drops_the_new_database(pg_server: PgServer) -> None:
    db, _, reader, _ = _setup(pg_server)
    snap = _backup(pg_server, db)
    pg_server.psql(f"DROP OWNED BY {reader}", dbname=db)
    pg_server.psql(f"DROP ROLE {reader}")
    code, _, err = _restore(pg_server, snap, f"{db}_copy")
    assert code == 1, err
    line = one_line_error_text(err)
    assert f'role "{reader}" does not exist' in line and "dropped again" in line
    assert "hint: give --globals" in err
    assert pg_server.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{db}_copy'") == "0"


def one_line_error_text(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("drkit: error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_restore_into_non_empty_existing_database_is_refused(pg_server: PgServer) -> None:
    db, _, _, _ = _setup(pg_server)
    snap = _backup(pg_server, db)
    pg_server.psql(f"CREATE DATABASE {db}_busy")
    pg_server.psql("CREATE TABLE keep_me (n int)", dbname=f"{db}_busy")
    proc = run(
        pg_server,
        "restore",
        "postgres",
        snap,
        "--logical",
        "--target-dsn",
        pg_server.db_url(f"{db}_busy"),
        "--db-password-file",
        str(pg_server.db_password_file),
    )
    assert proc.returncode == 1
    assert "already exists" in one_line_error(proc) and "not empty" in one_line_error(proc)
    assert pg_server.psql("SELECT count(*) FROM keep_me", dbname=f"{db}_busy") == "0"
    assert pg_server.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", dbname=f"{db}_busy") == "1"


def test_non_superuser_backup_keeps_roles_without_passwords(tmp_path: Path, pg_server: PgServer) -> None:
    """A managed PostgreSQL's admin is no superuser and may not read pg_authid: the backup still
    works (roles dumped without passwords) and restores."""
    tag = uuid.uuid4().hex[:8]
    admin, db = f"admin_{tag}", f"managed_{tag}"
    pg_server.psql(f"CREATE ROLE {admin} LOGIN CREATEDB CREATEROLE PASSWORD '{OLD_PW}'")
    pg_server.psql(f"CREATE DATABASE {db} OWNER {admin}")
    pg_server.psql(f"SET ROLE {admin}; CREATE TABLE t AS SELECT g AS n FROM generate_series(1, 30) g", dbname=db)
    pw = tmp_path / "admin-pw"
    pw.write_text(OLD_PW + "\n")
    url = f"postgresql://{admin}@127.0.0.1:{pg_server.port}/{db}"
    proc = run(pg_server, "backup", "postgres", "--logical", "--dsn", url, "--db-password-file", str(pw), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    meta = json.loads(proc.stdout)["meta"]
    assert meta["globals_role_passwords"] is False
    code, _, err = _restore(pg_server, json.loads(proc.stdout)["snapshot"], f"{db}_copy")
    assert code == 0, err
    assert normalised_dump(pg_server, f"{db}_copy") == normalised_dump(pg_server, db)
