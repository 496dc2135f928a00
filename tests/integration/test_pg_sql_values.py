"""drkit's own SQL reads exact values (issue 19): a user check tells NULL from '', keeps a tab or a
newline inside a value, and a wrong expectation fails; facts work for tables whose names hold a
tab or a newline. Real PostgreSQL 15 (psql's text output got each of these wrong)."""

from __future__ import annotations

import uuid

import pytest
from servers.postgres import DB_PASSWORD, PgServer

from drkit.config import SqlCheck
from drkit.drills.verify.user import verify_user_checks
from drkit.sources.postgres import facts as pg_facts
from drkit.sources.postgres.conn import PgConn
from drkit.sources.postgres.drills.verify import sql_check

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db(pg_server: PgServer) -> str:
    name = f"vals_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f"CREATE DATABASE {name}")
    pg_server.psql(
        "CREATE TABLE t (id int PRIMARY KEY, v text); "
        "INSERT INTO t VALUES (1, NULL), (2, ''), (3, E'a\\tb'), (4, E'x\\ny'), (5, ' pad ')",
        dbname=name,
    )
    pg_server.psql(
        'CREATE TABLE "we\tird" (n int); INSERT INTO "we\tird" SELECT generate_series(1, 7); '
        'CREATE TABLE "new\nline" (s text); INSERT INTO "new\nline" VALUES (E\'1\\t2\'), (NULL)',
        dbname=name,
    )
    return name


def _conn(server: PgServer) -> PgConn:
    return PgConn(host="127.0.0.1", port=server.port, user="postgres", dbname="postgres", password=DB_PASSWORD)


CASES = [
    ("SELECT v FROM t WHERE id = 1", None, True),
    ("SELECT v FROM t WHERE id = 1", "", False),  # NULL is not ''
    ("SELECT v FROM t WHERE id = 2", "", True),
    ("SELECT v FROM t WHERE id = 2", None, False),  # '' is not NULL
    ("SELECT v FROM t WHERE id = 3", "a\tb", True),
    ("SELECT v FROM t WHERE id = 3", "a", False),
    ("SELECT v FROM t WHERE id = 4", "x\ny", True),
    ("SELECT v FROM t WHERE id = 4", "x", False),
    ("SELECT v FROM t WHERE id = 5", " pad ", True),
    ("SELECT v FROM t WHERE id = 5", "pad", False),  # no trimming
    ("SELECT v FROM t WHERE id = 99", "", False),  # no row is not ''
    ("SELECT count(*) > 4, 'second column' FROM t", "t", True),  # PostgreSQL's text form, first column
    ("SELECT 3000.50::numeric(8,2)", "3000.50", True),
    ("SET search_path TO pg_catalog; SELECT v FROM public.t WHERE id = 3", "a\tb", True),  # the SELECT's result
]


def test_user_checks_compare_exact_values(pg_server: PgServer, db: str) -> None:
    checks = [SqlCheck(sql=sql, expect=expect) for sql, expect, _ in CASES]
    results = verify_user_checks(checks, sql=sql_check(_conn(pg_server), db))  # type: ignore[arg-type]
    got = [(r.ok, r.detail) for r in results]
    assert [ok for ok, _ in got] == [want for _, _, want in CASES], got
    assert got[1][1] == "got NULL, expected ''"
    assert got[10][1] == "got no row, expected ''"


def test_facts_of_tables_with_tab_and_newline_in_their_names(pg_server: PgServer, db: str) -> None:
    facts = pg_facts.table_facts(_conn(pg_server), db)
    assert facts["public.we\tird"]["rows"] == "7"
    assert facts["public.new\nline"]["rows"] == "2"
    assert facts["public.t"]["rows"] == "5"
    checksum = pg_server.psql('SELECT coalesce(sum(hashtext(x::text)::bigint), 0) FROM "new\nline" x', dbname=db)
    assert facts["public.new\nline"]["checksum"] == checksum
