"""Connection parameters: URLs parsed, the password kept out of every printable form."""

from __future__ import annotations

from pathlib import Path

import pytest

from drkit.sources.postgres.conn import PgConn, connection
from drkit.sources.postgres.errors import PostgresError
from drkit.sources.postgres.process import error_summary

SECRET = "s3cr3t-'pw x"


def test_url_password_never_in_display_dsn_or_repr() -> None:
    conn = PgConn.from_url("postgresql://app:s3cr3t-%27pw%20x@db.example:6543/shop?sslmode=require")
    assert conn.password == SECRET
    assert (conn.host, conn.port, conn.user, conn.dbname) == ("db.example", 6543, "app", "shop")
    for text in (conn.display, conn.dsn(), repr(conn)):
        assert "s3cr3t" not in text
    assert conn.display == "postgresql://app@db.example:6543/shop?sslmode=require"
    assert conn.dsn() == "host=db.example port=6543 user=app dbname=shop sslmode=require"
    assert conn.env()["PGPASSWORD"] == SECRET


def test_separate_parameters_win_and_password_file(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("from-file\n")
    conn = connection("postgresql://a@h/db", port=7, dbname="other", password_file=pw)
    assert conn.dsn() == "host=h port=7 user=a dbname=other"
    assert conn.password == "from-file"
    assert conn.dsn("x y") == "host=h port=7 user=a dbname='x y'"


def test_bad_urls_are_one_line_errors() -> None:
    with pytest.raises(PostgresError):
        PgConn.from_url("mysql://x")
    with pytest.raises(PostgresError):
        connection(None, password_file=Path("/nonexistent/pw"))


def test_error_summary_takes_last_error_and_redacts() -> None:
    err = (
        b'pg_dump: error: connection to server at "h" failed: FATAL:  password authentication failed '
        b'for user "a" (s3cr3t-\'pw x)\n'
    )
    line = error_summary("pg_dump", err, 1, [SECRET])
    assert line.startswith("pg_dump failed (exit 1): connection to server")
    assert "s3cr3t" not in line and "\n" not in line


def test_error_summary_names_the_first_server_error_not_the_dying_worker() -> None:
    err = (
        b'pg_restore: error: could not execute query: ERROR:  role "reader" does not exist\n'
        b"Command was: GRANT SELECT ON TABLE public.t TO reader;\n"
        b"pg_restore: error: a worker process died unexpectedly\n"
    )
    line = error_summary("pg_restore", err, 1, [])
    assert line == 'pg_restore failed (exit 1): could not execute query: ERROR: role "reader" does not exist'


def test_password_in_url_query_is_taken_out_of_the_dsn() -> None:
    conn = PgConn.from_url(f"postgresql://a@h:5/db?sslmode=require&password={SECRET}")
    assert conn.password == SECRET
    assert SECRET not in conn.dsn() and SECRET not in conn.display
    assert "sslmode=require" in conn.dsn()
