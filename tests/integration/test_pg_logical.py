"""Logical PostgreSQL backups against a real PostgreSQL 15: schema, data, sequences and roles
restore identically; a failing pg_dump writes no snapshot; the password is never printed."""

from __future__ import annotations

import json
import uuid

import pytest
from clirun import one_line_error
from servers.postgres import (
    DB_PASSWORD,
    PgServer,
    assert_no_password,
    db_opts,
    normalised_dump,
    normalised_globals,
    run,
)

pytestmark = pytest.mark.integration

SCHEMA = """
CREATE ROLE {role} LOGIN PASSWORD 'reader-pw-1' CONNECTION LIMIT 5;
CREATE ROLE {owner} NOLOGIN;
CREATE DATABASE {db} OWNER {owner};
"""
OBJECTS = """
SET ROLE {owner};
CREATE SCHEMA shop;
CREATE TABLE shop.customers (id serial PRIMARY KEY, name text NOT NULL UNIQUE, created timestamptz);
CREATE SEQUENCE shop.invoice_no START 1000 INCREMENT 7;
CREATE TABLE shop.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer int REFERENCES shop.customers(id), amount numeric(10,2) CHECK (amount > 0),
  invoice int DEFAULT nextval('shop.invoice_no'), note jsonb);
CREATE INDEX orders_by_customer ON shop.orders (customer);
CREATE VIEW shop.totals AS SELECT customer, sum(amount) AS total FROM shop.orders GROUP BY customer;
CREATE FUNCTION shop.double(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 2 * x';
INSERT INTO shop.customers (name, created)
  SELECT 'c' || g, '2026-01-01'::timestamptz + g * interval '1 hour' FROM generate_series(1, 500) g;
INSERT INTO shop.orders (customer, amount, note)
  SELECT 1 + g % 500, (g % 97) + 0.5, jsonb_build_object('g', g) FROM generate_series(1, 3000) g;
SELECT setval('shop.invoice_no', 99999);
GRANT USAGE ON SCHEMA shop TO {role};
GRANT SELECT ON shop.totals TO {role};
COMMENT ON TABLE shop.orders IS 'all orders';
RESET ROLE;
"""


def _make_db(server: PgServer) -> tuple[str, str, str]:
    tag = uuid.uuid4().hex[:8]
    db, role, owner = f"shop_{tag}", f"reader_{tag}", f"owner_{tag}"
    for stmt in SCHEMA.format(db=db, role=role, owner=owner).strip().splitlines():
        server.psql(stmt)
    server.psql(OBJECTS.format(role=role, owner=owner), dbname=db)
    return db, role, owner


def _pw(server: PgServer) -> list[str]:
    return ["--db-password-file", str(server.db_password_file)]


def _snapshot_count(server: PgServer) -> int:
    proc = run(server, "snapshots", "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    return len(json.loads(proc.stdout))


def test_logical_round_trip_into_new_database(pg_server: PgServer) -> None:
    outputs: list[bytes] = []
    pw = _pw(pg_server)
    db, _, _ = _make_db(pg_server)
    backup = run(pg_server, "backup", "postgres", "--logical", *db_opts(pg_server, db), "--json", outputs=outputs)
    assert backup.returncode == 0, backup.stderr.decode()
    snap = json.loads(backup.stdout)["snapshot"]
    copy = f"{db}_copy"
    restore = run(
        pg_server,
        "restore",
        "postgres",
        snap,
        "--logical",
        "--target-dsn",
        pg_server.db_url(copy),
        "--jobs",
        "3",
        *pw,
        outputs=outputs,
    )
    assert restore.returncode == 0, restore.stderr.decode()
    assert normalised_dump(pg_server, copy) == normalised_dump(pg_server, db)
    totals = "SELECT count(*), sum(amount), max(invoice) FROM shop.orders"
    assert pg_server.psql(totals, dbname=copy) == pg_server.psql(totals, dbname=db)
    assert pg_server.psql(totals, dbname=copy).startswith("3000|")
    assert pg_server.psql("SELECT last_value FROM shop.invoice_no", dbname=copy) == "99999"
    assert_no_password(outputs)


def test_logical_restores_roles_after_drop_with_globals(pg_server: PgServer) -> None:
    outputs: list[bytes] = []
    pw = _pw(pg_server)
    db, role, owner = _make_db(pg_server)
    dump_before, globals_before = normalised_dump(pg_server, db), normalised_globals(pg_server)
    backup = run(pg_server, "backup", "postgres", "--logical", *db_opts(pg_server, db), "--json", outputs=outputs)
    assert backup.returncode == 0, backup.stderr.decode()
    pg_server.psql(f"DROP DATABASE {db}")
    pg_server.psql(f"DROP ROLE {role}")
    pg_server.psql(f"DROP ROLE {owner}")
    assert role not in normalised_globals(pg_server)
    restore = run(
        pg_server,
        "restore",
        "postgres",
        json.loads(backup.stdout)["snapshot"],
        "--logical",
        "--target-dsn",
        pg_server.db_url(db),
        "--globals",
        "--json",
        *pw,
        outputs=outputs,
    )
    assert restore.returncode == 0, restore.stderr.decode()
    assert sorted(json.loads(restore.stdout)["globals"]["created_roles"]) == sorted([owner, role])
    assert normalised_globals(pg_server) == globals_before
    assert normalised_dump(pg_server, db) == dump_before
    assert pg_server.psql(f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{db}'") == owner
    assert_no_password(outputs)


def test_failing_pg_dump_writes_no_snapshot(pg_server: PgServer) -> None:
    before = _snapshot_count(pg_server)
    url = pg_server.db_url("no_such_db").replace("postgres@", f"postgres:{DB_PASSWORD}@")
    proc = run(pg_server, "backup", "postgres", "--logical", "--dsn", url)
    assert proc.returncode == 1
    line = one_line_error(proc)
    assert "no_such_db" in line and "does not exist" in line
    assert_no_password([proc.stdout, proc.stderr])
    assert _snapshot_count(pg_server) == before


def test_restore_refuses_existing_database(pg_server: PgServer) -> None:
    pw = _pw(pg_server)
    db, _, _ = _make_db(pg_server)
    backup = run(pg_server, "backup", "postgres", "--logical", *db_opts(pg_server, db), "--json")
    assert backup.returncode == 0, backup.stderr.decode()
    snap = json.loads(backup.stdout)["snapshot"]  # `latest` of the shared repository is of several databases
    proc = run(pg_server, "restore", "postgres", snap, "--logical", "--target-dsn", pg_server.db_url(db), *pw)
    assert proc.returncode == 1
    assert "already exists" in one_line_error(proc)


def test_unreachable_server_is_one_line_error_and_no_snapshot(pg_server: PgServer) -> None:
    before = _snapshot_count(pg_server)
    url = f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:1/postgres"
    for mode in ([], ["--logical"]):
        proc = run(pg_server, "backup", "postgres", *mode, "--dsn", url)
        assert proc.returncode == 1
        assert "failed" in one_line_error(proc)
        assert_no_password([proc.stdout, proc.stderr])
    assert _snapshot_count(pg_server) == before
