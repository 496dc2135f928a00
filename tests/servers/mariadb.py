"""Real MariaDB 10.11 servers for tests (Debian's mariadb-server), on free loopback ports.

``start_mariadb()`` is a context manager: ``mariadb-install-db`` into a fresh /tmp directory, a free
loopback port and a Unix socket in that directory, a temp dir of its own (a starting MariaDB deletes every
``#sql*`` file in its temp dir: in a shared /tmp, the live temporary tables of every other server, e.g. a
concurrent test session's, whose ``mariadb-install-db`` then failed with "Error on delete of
'/tmp/#sql-temptable-…'"), ``mariadbd --user=mysql`` when we are root (the
server refuses to run as root; it drops to the unprivileged ``mysql`` user itself), the binary log
on. The port is picked free before the server binds it: if another process took it meanwhile (the
server exits "Address already in use"), the start is tried again on another port. It polls until the
server answers, creates a password user ``drkit`` for TCP logins and, in
``finally``, always stops the server and removes the directory. ``mysql_server`` is one shared
server per test session; tests create their own databases.

A missing or unstartable server FAILS the test (scripts/install.sh installs mariadb-server): CI must
never pass by skipping the MySQL source's tests.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HOST = "127.0.0.1"
USER = "drkit"
PASSWORD = "my-Test-Secret-3b9d51e2"  # throwaway; tests grep every output for it
READY_TIMEOUT = 90.0
OS_USER = "mysql"
PORT_TRIES = 5


class PortTaken(AssertionError):
    """The server could not bind its port: another process took it after ``free_port`` saw it free."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class MariaDB:
    base: Path
    port: int
    proc: subprocess.Popen[bytes]
    argv: list[str] = field(default_factory=list)  # how it was started (``restart``)

    @property
    def socket(self) -> Path:
        return self.base / "mysqld.sock"

    def url(self, database: str = "") -> str:
        """TCP, user drkit (the password goes through DRKIT_MYSQL_PASSWORD or a file)."""
        return f"mysql://{USER}@{HOST}:{self.port}/{database}"

    def client(self, *args: str, stdin: bytes | None = None, tool: str = "mariadb") -> bytes:
        """A client tool as root over the socket (the oracle's login, independent of drkit's)."""
        proc = subprocess.run(
            [tool, "--no-defaults", f"--socket={self.socket}", "--user=root", "--default-character-set=utf8mb4", *args],
            input=stdin,
            capture_output=True,
            timeout=300,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"{tool} {args[:3]} failed: {proc.stderr.decode(errors='replace')[-800:]}")
        return proc.stdout

    def sql(self, statement: str, database: str | None = None) -> str:
        args = ["--batch", "--skip-column-names", "-e", statement]
        return self.client(*args, *([database] if database else [])).decode()

    def password_env(self) -> dict[str, str]:
        return {"DRKIT_MYSQL_PASSWORD": PASSWORD}


def normalised_dump(server: MariaDB, database: str) -> str:
    """``mariadb-dump`` of one database (schema, data, routines, events, triggers) without comment
    lines (host, database name, timestamps): the oracle a restore is compared with."""
    text = server.client(
        "--single-transaction",
        "--routines",
        "--events",
        "--triggers",
        "--hex-blob",
        "--skip-dump-date",
        "--skip-comments",
        database,
        tool="mariadb-dump",
    ).decode()
    return "\n".join(line for line in text.splitlines() if line.strip() and not line.startswith("--"))


def _require(name: str) -> str:
    found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if found is None:
        pytest.fail(f"{name} not installed (Debian: mariadb-server mariadb-client; scripts/install.sh installs them)")
    return found


def _as_user(base: Path) -> list[str]:
    if os.geteuid() != 0:
        return []
    pw = pwd.getpwnam(OS_USER)
    for path in [base, *base.rglob("*")]:
        os.chown(path, pw.pw_uid, pw.pw_gid)
    return [f"--user={OS_USER}"]


def _wait_ready(server: MariaDB, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            text = log.read_text(errors="replace") if log.exists() else ""
            if "Bind on TCP/IP port" in text and "Address already in use" in text:
                raise PortTaken(f"port {server.port} taken: {text[-500:]}")
            pytest.fail(f"mariadbd exited ({server.proc.returncode}): {text[-2000:]}")
        ping = subprocess.run(
            [
                "mariadb-admin",
                "--no-defaults",
                f"--socket={server.socket}",
                "--user=root",
                "--connect-timeout=2",
                "ping",
            ],
            capture_output=True,
            timeout=30,
            check=False,
        )
        if ping.returncode == 0:
            return
        time.sleep(0.2)  # polling the server's readiness, not synchronising on an event we could await
    pytest.fail(f"mariadbd not ready after {READY_TIMEOUT}s: {log.read_text(errors='replace')[-2000:]}")


def _stop(server: MariaDB) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()  # SIGTERM: a clean shutdown
        try:
            server.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=30)


def restart(server: MariaDB) -> None:
    """Stop the server if it still runs (a test may have killed it and replaced its data directory:
    its files are chowned again) and start it as before, on the same port and data directory."""
    _stop(server)
    _as_user(server.base)
    server.proc = subprocess.Popen(
        server.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    _wait_ready(server, server.base / "error.log")


def _launch(mariadbd: str, base: Path, port: int, user: list[str]) -> MariaDB:
    """Start ``mariadbd`` on ``port`` (its error log, of this start only, at ``base/error.log``)."""
    log = base / "error.log"
    log.unlink(missing_ok=True)
    argv = [
        mariadbd,
        "--no-defaults",
        f"--datadir={base / 'data'}",
        f"--port={port}",
        f"--bind-address={HOST}",
        f"--socket={base / 'mysqld.sock'}",
        f"--tmpdir={base / 'tmp'}",
        f"--pid-file={base / 'mysqld.pid'}",
        f"--log-error={log}",
        *user,
        "--skip-name-resolve",
        "--innodb-buffer-pool-size=32M",
        "--server-id=1",
        f"--log-bin={base / 'data' / 'binlog'}",
        "--binlog-format=ROW",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return MariaDB(base, port, proc, argv)


@contextmanager
def start_mariadb(prefix: str = "drkit-mariadb-") -> Iterator[MariaDB]:
    mariadbd, install_db = _require("mariadbd"), _require("mariadb-install-db")
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    server: MariaDB | None = None
    try:
        data, log = base / "data", base / "error.log"
        data.mkdir()
        (base / "tmp").mkdir()
        user = _as_user(base)
        install = subprocess.run(
            [
                install_db,
                "--no-defaults",
                f"--datadir={data}",
                *user,
                "--skip-test-db",
                "--auth-root-authentication-method=normal",
                f"--tmpdir={base / 'tmp'}",  # passed on to its bootstrap server
            ],
            capture_output=True,
            timeout=300,
            check=False,
        )
        if install.returncode != 0:
            pytest.fail(f"mariadb-install-db failed: {install.stderr.decode(errors='replace')[-2000:]}")
        for attempt in range(1, PORT_TRIES + 1):
            server = _launch(mariadbd, base, free_port(), user)
            try:
                _wait_ready(server, log)
                break
            except PortTaken:
                if attempt == PORT_TRIES:
                    raise
        assert server is not None
        server.sql(
            f"CREATE USER '{USER}'@'{HOST}' IDENTIFIED BY '{PASSWORD}'; "
            f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'{HOST}'"
        )
        yield server
    finally:
        if server is not None:
            _stop(server)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[MariaDB]:
    """One MariaDB server per test session (tests create their own databases)."""
    with start_mariadb() as server:
        yield server
