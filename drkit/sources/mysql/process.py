"""Running the MariaDB / MySQL client tools (``mariadb-dump``, ``mariadb``, ``mariadb-binlog``): found
on PATH (MySQL's names as a fallback), the login passed as ``--defaults-extra-file`` (see ``conn``),
an environment without drkit's secrets, and a failure turned into one :class:`MysqlError` line.

Hand-written rather than through a Python driver: the dump and the restore are the tools' own work
(``mariadb-dump`` is the format the server's vendor supports), and the few queries drkit issues
itself go through the same client, so the source needs no extra Python package."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import BinaryIO, cast

from ...core.childenv import child_environ
from .conn import MysqlConn, option_file
from .errors import MysqlError, MysqlUnreachable

# drkit's name → the names to look for, MariaDB's first
_TOOLS = {
    "dump": ("mariadb-dump", "mysqldump"),
    "client": ("mariadb", "mysql"),
    "binlog": ("mariadb-binlog", "mysqlbinlog"),
}
_UNREACHABLE = ("Can't connect", "Access denied", "Unknown MySQL server host", "Lost connection")


def find_tool(which: str) -> str:
    for name in _TOOLS[which]:
        found = shutil.which(name)
        if found:
            return found
    raise MysqlError(
        f"{_TOOLS[which][0]} not found on PATH", hint="install the MariaDB client tools (Debian: mariadb-client)"
    )


def _env() -> dict[str, str]:
    env = child_environ()
    env.pop("MYSQL_PWD", None)  # the login comes from the option file only
    env.pop("MYSQL_HOST", None)
    env["TZ"] = "UTC"  # mariadb-binlog reads --stop-datetime (and prints times) in the local zone
    return env


def _error(tool: str, stderr: bytes, code: int, conn: MysqlConn) -> MysqlError | MysqlUnreachable:
    lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    detail = " ".join((lines[0] if lines else "no output").split())
    if conn.password:
        detail = detail.replace(conn.password, "***")
    message = f"{tool} failed (exit {code}) on {conn.display}: {detail}"
    if any(marker in detail for marker in _UNREACHABLE):
        return MysqlUnreachable(message, hint="check the URL, the user and DRKIT_MYSQL_PASSWORD or the password file")
    return MysqlError(message)


class Spawned:
    """A running tool with the login in a private option file; stdin or stdout is the caller's pipe,
    stderr a temp file (no pipe to fill). ``finish()`` waits and raises on a non-zero exit."""

    def __init__(self, which: str, conn: MysqlConn, args: list[str], *, feed: bool = False) -> None:
        self.tool = _TOOLS[which][0]
        self.conn = conn
        self._stack = ExitStack()
        try:
            cnf = self._stack.enter_context(option_file(conn))
            self._stderr = self._stack.enter_context(tempfile.TemporaryFile())
            argv = [find_tool(which), f"--defaults-extra-file={cnf}", *args]
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
                stdout=subprocess.DEVNULL if feed else subprocess.PIPE,
                stderr=self._stderr,
                env=_env(),
            )
        except BaseException:
            self._stack.close()
            raise

    @property
    def stdout(self) -> BinaryIO:
        return cast(BinaryIO, self.proc.stdout)

    @property
    def stdin(self) -> BinaryIO:
        return cast(BinaryIO, self.proc.stdin)

    def finish(self) -> None:
        """Close our end, wait, remove the option file; raise the tool's error on a non-zero exit."""
        try:
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    pipe.close()
            code = self.proc.wait()
            if code != 0:
                self._stderr.seek(0)
                raise _error(self.tool, self._stderr.read(), code, self.conn)
        finally:
            self._stack.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stack.close()


def run(which: str, conn: MysqlConn, args: list[str], stdin: bytes | None = None) -> bytes:
    """Run a tool to completion; its stdout."""
    with option_file(conn) as cnf:
        proc = subprocess.run(
            [find_tool(which), f"--defaults-extra-file={cnf}", *args],
            input=stdin,
            capture_output=True,
            env=_env(),
            check=False,
        )
    if proc.returncode != 0:
        raise _error(_TOOLS[which][0], proc.stderr, proc.returncode, conn)
    return proc.stdout


def query(conn: MysqlConn, sql: str, database: str | None = None) -> list[list[str]]:
    """Rows of ``sql`` (tab-separated batch output, no headers; NULL as the text ``NULL``)."""
    args = ["--batch", "--skip-column-names", "--raw", "-e", sql]
    if database:
        args += ["--database", database]
    out = run("client", conn, args).decode()
    return [line.split("\t") for line in out.splitlines()]


@contextmanager
def spawned(which: str, conn: MysqlConn, args: list[str], *, feed: bool = False) -> Iterator[Spawned]:
    """``Spawned`` that is killed if the block raises before ``finish()``."""
    proc = Spawned(which, conn, args, feed=feed)
    try:
        yield proc
    finally:
        proc.kill()


def quote_ident(name: str) -> str:
    """A MySQL identifier in backquotes (a backquote inside doubled)."""
    return "`" + name.replace("`", "``") + "`"


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


__all__ = ["Spawned", "find_tool", "query", "quote_ident", "quote_string", "run", "spawned"]
