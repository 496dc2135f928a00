"""A logical dump of the ``postgres`` database itself (the one database of a managed PostgreSQL
such as Supabase) restores into the existing, empty ``postgres`` of a fresh cluster (issue 19).
Oracle: pg_dump of the source equals pg_dump of the restore (schema and data, as text). A second
restore over the now non-empty database is refused and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from clirun import one_line_error
from servers.postgres import PgServer, assert_no_password, db_opts, normalised_dump, run, start_postgres

pytestmark = pytest.mark.integration

SOURCE = r"""
CREATE ROLE app_owner NOLOGIN;
CREATE ROLE app_reader LOGIN PASSWORD 'reader-pw-5a1b';
CREATE SCHEMA app AUTHORIZATION app_owner;
SET ROLE app_owner;
CREATE TABLE app.items (id int PRIMARY KEY, label text, payload bytea, price numeric(8,2));
INSERT INTO app.items VALUES (1, NULL, NULL, 1.5), (2, '', '\x00ff', 2), (3, E'a\tb', '\x01', 3),
  (4, E'x\ny', '\x02', 4);
INSERT INTO app.items SELECT g, md5(g::text), NULL, g / 7.0 FROM generate_series(5, 2000) g;
CREATE SEQUENCE app.counter START 40;
SELECT setval('app.counter', 4242);
CREATE VIEW app.cheap AS SELECT id, label FROM app.items WHERE price < 10;
GRANT SELECT ON app.cheap TO app_reader;
RESET ROLE;
CREATE TABLE public.notes (n serial PRIMARY KEY, body text);
INSERT INTO public.notes (body) SELECT 'note ' || g FROM generate_series(1, 50) g;
COMMENT ON TABLE public.notes IS 'kept in postgres';
"""


@pytest.fixture(scope="module")
def target() -> Iterator[PgServer]:
    with start_postgres("drkit-pg-target-") as server:
        yield server


@pytest.fixture(scope="module")
def source() -> Iterator[PgServer]:
    with start_postgres("drkit-pg-source-") as server:
        server.psql(SOURCE)
        yield server


def test_dump_of_postgres_restores_into_empty_postgres_of_fresh_cluster(source: PgServer, target: PgServer) -> None:
    outputs: list[bytes] = []
    backup = run(source, "backup", "postgres", "--logical", *db_opts(source, "postgres"), "--json", outputs=outputs)
    assert backup.returncode == 0, backup.stderr.decode()
    snap = json.loads(backup.stdout)["snapshot"]
    restore = run(
        source,
        "restore",
        "postgres",
        snap,
        "--logical",
        "--target-dsn",
        target.url,
        "--globals",
        "--db-password-file",
        str(target.db_password_file),
        "--json",
        outputs=outputs,
    )
    assert restore.returncode == 0, restore.stderr.decode()
    doc = json.loads(restore.stdout)
    assert doc["database"] == "postgres" and doc["into_existing"] is True
    assert sorted(doc["globals"]["created_roles"]) == ["app_owner", "app_reader"]
    assert doc["globals"]["kept_roles"] == ["postgres"]
    assert normalised_dump(target, "postgres") == normalised_dump(source, "postgres")
    assert target.psql("SELECT count(*), count(label), sum(price) FROM app.items") == source.psql(
        "SELECT count(*), count(label), sum(price) FROM app.items"
    )

    again = run(
        source,
        "restore",
        "postgres",
        snap,
        "--logical",
        "--target-dsn",
        target.url,
        "--db-password-file",
        str(target.db_password_file),
        outputs=outputs,
    )
    assert again.returncode == 1
    assert "not empty" in one_line_error(again)
    assert normalised_dump(target, "postgres") == normalised_dump(source, "postgres")
    assert_no_password(outputs)
