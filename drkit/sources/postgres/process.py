"""Running the PostgreSQL client tools (pg_dump, pg_dumpall, pg_restore, pg_basebackup): finding
the binaries, passing the password through the child's environment only (which holds none of
drkit's other secrets: ``PgConn.env``), and turning a failure into one ``PostgresError`` line with
the password redacted. SQL drkit issues itself goes through ``sql`` (psycopg), never psql."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import IO

from .conn import PgConn
from .errors import PostgresError

_SEARCH = "/usr/lib/postgresql/*/bin"


def find_tool(name: str) -> str:
    """``PG_BINDIR`` (``DRKIT_PG_BINDIR``), then PATH, then Debian's newest /usr/lib/postgresql/N/bin."""
    bindir = os.environ.get("DRKIT_PG_BINDIR")
    if bindir and os.access(Path(bindir) / name, os.X_OK):
        return str(Path(bindir) / name)
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"{_SEARCH}/{name}"), key=lambda p: int(Path(p).parts[-3]), reverse=True)
    if candidates:
        return candidates[0]
    raise PostgresError(
        f"{name} not found",
        hint="install the PostgreSQL client tools (Debian: postgresql-client) or set DRKIT_PG_BINDIR",
    )


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def error_summary(tool: str, stderr: bytes, code: int, secrets: list[str]) -> str:
    """``pg_dump failed (exit 1): database "x" does not exist`` from a tool's stderr."""
    lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    server = [ln for ln in lines if "FATAL:" in ln or "ERROR:" in ln]  # the first one is the cause
    errors = [ln for ln in lines if "error:" in ln]  # pg_restore's last is "a worker process died"
    detail = server[0] if server else (errors or lines or ["no output"])[-1]
    for prefix in (f"{tool}: error: ", f"{tool}: "):
        detail = detail.removeprefix(prefix)
    return redact(f"{tool} failed (exit {code}): {' '.join(detail.split())}", secrets)


class Spawned:
    """A running tool whose stdout is read by the caller; stderr goes to a temp file (no pipe to fill)."""

    def __init__(
        self,
        tool: str,
        args: list[str],
        conn: PgConn,
        *,
        stdout: int | IO[bytes] = subprocess.PIPE,
        stdin: int | IO[bytes] = subprocess.DEVNULL,
    ) -> None:
        self.tool = tool
        self.conn = conn
        self._err = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                [find_tool(tool), *args], stdin=stdin, stdout=stdout, stderr=self._err, env=conn.env()
            )
        except OSError as exc:
            self._err.close()
            raise PostgresError(f"cannot run {tool}: {exc.strerror}") from None

    @property
    def stdout(self) -> IO[bytes]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    def finish(self) -> bytes:
        """Wait for the tool; return its stderr, or raise its one-line error."""
        for pipe in (self.proc.stdout, self.proc.stdin):
            if pipe is not None:
                pipe.close()
        code = self.proc.wait()
        self._err.seek(0)
        err = self._err.read()
        self._err.close()
        if code != 0:
            raise PostgresError(error_summary(self.tool, err, code, self.conn.secrets()))
        return err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self._err.closed:
            self._err.close()


def run(tool: str, args: list[str], conn: PgConn, *, input: bytes | None = None, timeout: float | None = None) -> bytes:
    """Run a tool to completion; its stdout, or a one-line ``PostgresError``."""
    argv = [find_tool(tool), *args]
    try:
        proc = subprocess.run(argv, input=input, capture_output=True, env=conn.env(), timeout=timeout, check=False)
    except OSError as exc:
        raise PostgresError(f"cannot run {tool}: {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise PostgresError(f"{tool} timed out after {timeout:.0f} s") from None
    if proc.returncode != 0:
        raise PostgresError(error_summary(tool, proc.stderr, proc.returncode, conn.secrets()))
    return proc.stdout
