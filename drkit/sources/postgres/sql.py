"""Every SQL statement drkit issues itself goes through here, over psycopg 3 (libpq in-process):
facts, canaries, user checks, drill verification, archive checks, sandbox readiness.

Why not ``psql``: its text output cannot tell NULL from '' and splits a value holding a tab or a
newline into columns and rows. psycopg returns typed values (``None`` for NULL, ``int``,
``str`` with its tabs and newlines, ``bytes``), and for user checks the server's exact text form
of a value (``text_value``). pg_dump, pg_restore and pg_basebackup stay child processes.

A connection gets the password from ``PgConn.password`` as a libpq parameter (never argv, never a
child's environment; without one, libpq reads ``PGPASSWORD``/``PGPASSFILE`` as usual), a connect
timeout and ``application_name=drkit`` unless the URL sets them. Failures become one
``PostgresError`` line with any password redacted.

psycopg (the [postgres] extra) is imported on first connection, not with the module: the physical
backup and WAL modules import ``scalar`` from here, and ``drkit check`` imports those on a files-only
installation."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

from ...core.log import redact as redact_secrets
from .conn import PgConn
from .errors import PostgresError
from .process import redact

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql as pgsql

APPLICATION_NAME = "drkit"
CONNECT_TIMEOUT = 10  # seconds; libpq's own parameter

Query: TypeAlias = "str | pgsql.Composed | pgsql.SQL"
Params = Sequence[Any] | dict[str, Any] | None

__all__ = ["APPLICATION_NAME", "Query", "connect", "execute", "rows", "scalar", "session", "text_value"]


def _message(conn: PgConn, exc: psycopg.Error) -> str:
    diag = getattr(exc, "diag", None)
    primary = diag.message_primary if diag is not None else None
    text = primary or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return redact(redact_secrets(" ".join(text.split())), conn.secrets())


def connect(conn: PgConn, dbname: str | None = None) -> psycopg.Connection[tuple[Any, ...]]:
    """An autocommit connection to ``dbname`` (default: the connection's own database)."""
    import psycopg  # see the module docstring

    given = {k for k, _ in conn.options}
    kwargs: dict[str, Any] = {}
    if "connect_timeout" not in given:
        kwargs["connect_timeout"] = CONNECT_TIMEOUT
    if "application_name" not in given:
        kwargs["application_name"] = APPLICATION_NAME
    if conn.password is not None:
        kwargs["password"] = conn.password
    if conn.passfile is not None:
        kwargs["passfile"] = str(conn.passfile)
    try:
        return psycopg.connect(conn.dsn(dbname), autocommit=True, **kwargs)
    except psycopg.Error as exc:
        where = conn.with_db(dbname).display if dbname else conn.display
        raise PostgresError(f"cannot connect to {where}: {_message(conn, exc)}") from None


@contextmanager
def session(conn: PgConn, dbname: str | None = None) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """A connection for several statements; closed afterwards; a failure is one ``PostgresError``."""
    import psycopg  # see the module docstring

    with connect(conn, dbname) as db:
        try:
            yield db
        except psycopg.Error as exc:
            raise PostgresError(f"query failed on database {db.info.dbname!r}: {_message(conn, exc)}") from None


def rows(conn: PgConn, query: Query, params: Params = None, *, dbname: str | None = None) -> list[tuple[Any, ...]]:
    """All rows of one statement, as typed Python values (NULL is ``None``)."""
    with session(conn, dbname) as db, db.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall() if cur.description is not None else []


def scalar(conn: PgConn, query: Query, params: Params = None, *, dbname: str | None = None) -> Any:
    """The first column of the first row; a ``PostgresError`` when there is no row."""
    found = rows(conn, query, params, dbname=dbname)
    if not found:
        raise PostgresError(f"query returned no rows: {str(query)[:60]}")
    return found[0][0]


def execute(conn: PgConn, query: Query, params: Params = None, *, dbname: str | None = None) -> None:
    """Run statements for their effect (autocommit; without ``params`` several may be given)."""
    with session(conn, dbname) as db:
        db.execute(query, params)


def text_value(conn: PgConn, query: str, *, dbname: str | None = None) -> tuple[bool, str | None]:
    """``(has_row, value)``: the first column of the first row of ``query``'s first result that has
    columns (so ``SET …; SELECT …`` reads the SELECT), in the server's own text output form (what
    ``psql`` shows for one value: ``t``, ``3000.50``, ``2026-01-01 00:00:00+00``), exact — tabs and
    newlines kept — and ``None`` for NULL."""
    with session(conn, dbname) as db, db.cursor() as cur:
        cur.execute(query)
        while cur.description is None and cur.nextset():
            pass
        result = cur.pgresult
        if cur.description is None or result is None or result.ntuples == 0 or result.nfields == 0:
            return False, None
        raw = result.get_value(0, 0)
        return True, None if raw is None else bytes(raw).decode(db.info.encoding, errors="replace")
