"""A PostgreSQL job's connection, from its ``source:``: the DSN, and the password read from its secret
reference only here, at the moment it is used. A slice of the jobs layer (it reads the job's config)."""

from __future__ import annotations

from .config import PostgresSource
from .conn import PgConn


def pg_conn(source: PostgresSource) -> PgConn:
    conn = PgConn.from_url(source.dsn)
    if source.password is not None:
        conn = PgConn(
            host=conn.host,
            port=conn.port,
            user=conn.user,
            dbname=conn.dbname,
            password=source.password.reveal(),
            options=conn.options,
        )
    return conn
