"""How to reach a PostgreSQL server: a libpq URL or host/port/user/dbname, and a password from
``PGPASSWORD``, a password file, or ``PGPASSFILE`` (libpq's own). The password goes to drkit's own
connections as a libpq parameter (``sql``) and to the one client tool that needs it through that
child's environment only: it never appears in argv, logs or error messages."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ...core.childenv import child_environ
from .errors import PostgresError

LIBPQ_PASSWORD_VARS = ("PGPASSWORD", "PGPASSFILE")


@dataclass(frozen=True, kw_only=True)
class PgConn:
    """Connection parameters; ``password`` is excluded from ``repr``."""

    host: str | None = None
    port: int | None = None
    user: str | None = None
    dbname: str | None = None
    password: str | None = None
    passfile: Path | None = None
    options: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        return f"PgConn({self.display})"

    @classmethod
    def from_url(cls, url: str, *, password_file: Path | None = None) -> PgConn:
        """Parse ``postgresql://user:pw@host:port/db?sslmode=…``; a password in the URL is taken
        out of it (and kept only for the child processes' environment)."""
        parts = urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql"):
            raise PostgresError("the connection URL must start with postgresql://")
        pairs = [tuple(kv.split("=", 1)) for kv in parts.query.split("&") if "=" in kv]
        # ?password=… is taken out like user:password@ (else it would reach a child's argv via -d)
        in_query = [unquote(v) for k, v in pairs if k == "password"]
        query = tuple(kv for kv in pairs if kv[0] != "password")
        try:
            port = parts.port
        except ValueError:
            raise PostgresError("the connection URL has an invalid port") from None
        conn = cls(
            host=unquote(parts.hostname) if parts.hostname else None,
            port=port,
            user=unquote(parts.username) if parts.username else None,
            dbname=unquote(parts.path.lstrip("/")) or None,
            password=unquote(parts.password) if parts.password else (in_query[-1] if in_query else None),
            options=query,  # type: ignore[arg-type]
        )
        return conn.with_password_file(password_file)

    def with_password_file(self, path: Path | None) -> PgConn:
        if path is None:
            return self
        try:
            value = path.read_text().rstrip("\r\n")
        except OSError as exc:
            raise PostgresError(f"cannot read database password file {path}: {exc.strerror}") from None
        return replace(self, password=value)

    def with_db(self, dbname: str) -> PgConn:
        return replace(self, dbname=dbname)

    @property
    def display(self) -> str:
        """The URL without any password: safe to print."""
        netloc = ""
        if self.user:
            netloc = quote(self.user, safe="") + "@"
        if self.host:
            netloc += f"[{self.host}]" if ":" in self.host else quote(self.host, safe="/")
        if self.port:
            netloc += f":{self.port}"
        query = "&".join(f"{k}={v}" for k, v in self.options)
        return urlunsplit(("postgresql", netloc, "/" + (self.dbname or ""), query, ""))

    def dsn(self, dbname: str | None = None) -> str:
        """A libpq keyword/value string (no password) for ``-d``."""
        pairs = {"host": self.host, "port": self.port, "user": self.user, "dbname": dbname or self.dbname}
        pairs.update(dict(self.options))
        return " ".join(f"{k}={_quote_kv(str(v))}" for k, v in pairs.items() if v not in (None, ""))

    def env(self) -> dict[str, str]:
        """The environment for a client tool: the caller's without drkit's secrets (repository
        passphrase, cloud credentials: ``core.childenv``), plus this connection's password. libpq's
        own ``PGPASSWORD``/``PGPASSFILE`` are kept: they are the tool's credentials."""
        extra: dict[str, str] = {}
        if self.password is not None:
            extra["PGPASSWORD"] = self.password
        if self.passfile is not None:
            extra["PGPASSFILE"] = str(self.passfile)
        return child_environ(keep=LIBPQ_PASSWORD_VARS, extra=extra)

    def secrets(self) -> list[str]:
        """Strings that must never be printed (redacted from any tool output we relay)."""
        found = [self.password or "", os.environ.get("PGPASSWORD", "")]
        return [s for s in found if s]


def _quote_kv(value: str) -> str:
    if value and all(c not in value for c in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def connection(
    url: str | None,
    *,
    host: str | None = None,
    port: int | None = None,
    user: str | None = None,
    dbname: str | None = None,
    password_file: Path | None = None,
) -> PgConn:
    """From a URL and/or separate parameters (the separate ones win); ``None`` = libpq defaults."""
    base = PgConn.from_url(url) if url else PgConn()
    conn = replace(
        base, host=host or base.host, port=port or base.port, user=user or base.user, dbname=dbname or base.dbname
    )
    return conn.with_password_file(password_file)
