"""Where a MySQL / MariaDB server is and how to log in: a ``mysql://USER@HOST:PORT/DB`` URL (or
``mariadb://``; ``?socket=PATH`` for a Unix socket), and the password, kept out of every argv.

The client tools get their login from an option file (``--defaults-extra-file``) that drkit writes,
mode 0600, into a private 0700 temp directory and removes as soon as the tool has exited: argv is
readable by every user of the host (``ps``), and ``MYSQL_PWD`` in the environment by the process's
user and root; an option file readable only by drkit's user is what the MySQL manual recommends."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from ...core.log import register_secret
from .errors import MysqlError

SCHEMES = ("mysql", "mariadb")
PASSWORD_ENV = "DRKIT_MYSQL_PASSWORD"


@dataclass(frozen=True, kw_only=True)
class MysqlConn:
    host: str = "localhost"
    port: int = 3306
    user: str | None = None
    database: str | None = None
    socket: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str) -> MysqlConn:
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise MysqlError(
                f"not a MySQL URL: {parts.scheme or url!r}",
                hint="mysql://USER@HOST:PORT/DATABASE (or ?socket=/path/to/mysqld.sock)",
            )
        if parts.password:
            raise MysqlError("put the MySQL password in DRKIT_MYSQL_PASSWORD or a password file, not in the URL")
        try:
            port = parts.port or 3306
        except ValueError:
            raise MysqlError(f"bad port in MySQL URL {parts.hostname}") from None
        sockets = parse_qs(parts.query).get("socket")
        database = unquote(parts.path.lstrip("/")) or None
        return cls(
            host=parts.hostname or "localhost",
            port=port,
            user=unquote(parts.username or "") or None,
            database=database,
            socket=sockets[0] if sockets else None,
        )

    def with_password(self, password: str | None) -> MysqlConn:
        if password:
            register_secret(password)  # never logged from here on
        return replace(self, password=password)

    def with_database(self, database: str | None) -> MysqlConn:
        return replace(self, database=database)

    @property
    def display(self) -> str:
        """Where, for messages: never the password."""
        where = f"socket {self.socket}" if self.socket else f"{self.host}:{self.port}"
        return f"{self.user + '@' if self.user else ''}{where}"

    def option_text(self) -> str:
        lines = ["[client]", f"host={_quote(self.host)}", f"port={self.port}"]
        if self.socket:
            lines.append(f"socket={_quote(self.socket)}")
        if self.user:
            lines.append(f"user={_quote(self.user)}")
        if self.password is not None:
            lines.append(f"password={_quote(self.password)}")
        return "\n".join(lines) + "\n"


def _quote(value: str) -> str:
    """An option-file value: double-quoted, with backslash escapes, so any character survives."""
    if "\n" in value or "\r" in value:
        raise MysqlError("a MySQL login value (user, password, host) may not contain a line break")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@contextmanager
def option_file(conn: MysqlConn) -> Iterator[Path]:
    """The login as an option file (0600 in a private 0700 directory), removed on exit."""
    directory = Path(tempfile.mkdtemp(prefix="drkit-mysql-"))  # mkdtemp: mode 0700, owned by us
    try:
        path = directory / "client.cnf"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(conn.option_text())
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def password_from(file: Path | None = None, env: str | None = None) -> str | None:
    """The password from ``file`` (its first line), else from environment variable ``env``
    (default DRKIT_MYSQL_PASSWORD); None when neither gives one (a socket login needs none)."""
    if file is not None:
        try:
            text = file.read_text()
        except OSError as exc:
            raise MysqlError(f"cannot read the MySQL password file {file}: {exc.strerror}") from None
        return text.splitlines()[0] if text else ""
    return os.environ.get(env or PASSWORD_ENV) or None
