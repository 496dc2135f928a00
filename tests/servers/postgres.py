"""Real PostgreSQL 15 servers for tests, from Debian's packages, run as the ``postgres`` OS user.

``start_postgres()`` is a context manager: initdb in a fresh /tmp directory (pytest's tmp_path is
0700 root, which the ``postgres`` user cannot enter), a free loopback port, scram passwords over
TCP, ``archive_mode=on`` with ``archive_command`` = ``drkit pg wal-push %p`` into a fresh drkit
repository; it polls until the server answers on its own Unix socket (not the TCP port, where another
server could answer) and, in ``finally``, always stops it (immediate
shutdown) and removes the directory. ``pg_server`` is one shared server per test session;
``start_postgres`` itself serves tests that need their own WAL history (PITR). A port taken between its
pick and the bind (a concurrent session's server) makes the server exit "Address already in use": the start
is tried again on another port.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from clirun import drkit

OS_USER = "postgres"
DB_PASSWORD = "pg-Test-Secret-7f3e1d9c"  # throwaway; tests grep every output for it
REPO_PASSWORD = "drkit-pg-test-repo-pass"
READY_TIMEOUT = 60.0
PORT_TRIES = 5


class PortTaken(RuntimeError):
    """The server could not bind its port: another process took it after ``free_port`` saw it free."""


BINDIR_GLOB = "/usr/lib/postgresql/15/bin"


def bindir() -> Path | None:
    path = Path(os.environ.get("DRKIT_PG_BINDIR", BINDIR_GLOB))
    return path if (path / "postgres").exists() else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def as_postgres(*argv: str | Path) -> list[str]:
    """argv run as the postgres OS user when we are root (PostgreSQL refuses to run as root)."""
    args = [str(a) for a in argv]
    return ["runuser", "-u", OS_USER, "--", *args] if os.geteuid() == 0 else args


def give_to_postgres(path: Path, mode: int = 0o700) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam(OS_USER)
        os.chown(path, pw.pw_uid, pw.pw_gid)
    path.chmod(mode)


def make_shared_dir(prefix: str) -> Path:
    """A directory under /tmp the postgres user can enter (and write, mode 0o777)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o777)
    return path


def init_repository(path: Path, password_file: Path) -> str:
    """A fresh drkit repository (weak KDF: tests) that the postgres user can write WAL into."""
    from drkit.repository.format import RepoConfig
    from drkit.repository.keys import KdfParams
    from drkit.repository.repo import Repository
    from storage_backends.local import LocalBackend

    password_file.write_text(REPO_PASSWORD + "\n")
    password_file.chmod(0o644)
    repo = Repository.init(
        LocalBackend(path), REPO_PASSWORD, RepoConfig(), KdfParams(time_cost=1, memory_kib=64, parallelism=1)
    )
    repo.close()
    path.chmod(0o777)
    for key_object in (path / "keys").iterdir():  # owner-only (0600): the postgres user must own them
        give_to_postgres(key_object, 0o600)
    return str(path)


@dataclass
class PgServer:
    base: Path
    data_dir: Path
    port: int
    repo_url: str
    repo_password_file: Path
    db_password_file: Path
    bindir: Path

    @property
    def url(self) -> str:
        """A libpq URL without the password (it comes from a file or PGPASSWORD)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def db_url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def env(self) -> dict[str, str]:
        return {**os.environ, "PGPASSWORD": DB_PASSWORD}

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL; stdout (unaligned, tuples only), raising on error."""
        proc = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                dbname,
                "-c",
                sql,
            ],
            capture_output=True,
            env=self.env(),
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        return proc.stdout.decode().strip()

    def tool(self, name: str, *args: str) -> bytes:
        proc = subprocess.run(
            [str(self.bindir / name), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", *args],
            capture_output=True,
            env=self.env(),
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        return proc.stdout


def _conf(port: int, sock: Path, archive_command: str) -> str:
    return "\n".join(
        [
            f"port = {port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{sock}'",
            "archive_mode = on",
            f"archive_command = '{archive_command}'",
            "wal_level = replica",
            "max_wal_senders = 5",
            "fsync = off",
            "synchronous_commit = on",
            "shared_buffers = 64MB",
            "wal_keep_size = 256MB",
            "log_min_messages = warning",
            "",
        ]
    )


def _initdb(server_bin: Path, base: Path, data: Path, encoding: str = "UTF8") -> None:
    pwfile = base / "initdb-pw"
    pwfile.write_text(DB_PASSWORD + "\n")
    give_to_postgres(pwfile, 0o600)
    locale = "C.UTF-8" if encoding == "UTF8" else "C"
    proc = subprocess.run(
        as_postgres(
            server_bin / "initdb",
            "-D",
            data,
            "-U",
            "postgres",
            "-E",
            encoding,
            f"--locale={locale}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
        ),
        capture_output=True,
        timeout=120,
        check=False,
    )
    pwfile.unlink()
    assert proc.returncode == 0, proc.stderr.decode()


def wait_ready(
    server_bin: Path, port: int, proc: subprocess.Popen[bytes], log: Path, sock: Path, timeout: float = READY_TIMEOUT
) -> None:
    """Poll until the server answers on its own socket directory ``sock`` (another server may hold ``port``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = log.read_text(errors="replace")[-2000:]
            if "Address already in use" in text:
                raise PortTaken(f"port {port} taken: {text}")
            raise RuntimeError(f"postgres exited with {proc.returncode}: {text}")
        ok = subprocess.run(
            [str(server_bin / "pg_isready"), "-q", "-h", str(sock), "-p", str(port)], check=False, timeout=10
        )
        if ok.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"postgres on port {port} not ready after {timeout:.0f} s: {log.read_text()[-2000:]}")


def stop_cluster(server_bin: Path, data: Path, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Immediate shutdown; then make sure the process (group) is gone."""
    if (data / "postmaster.pid").exists():
        subprocess.run(
            as_postgres(server_bin / "pg_ctl", "stop", "-D", data, "-m", "immediate", "-w", "-t", "30"),
            capture_output=True,
            timeout=60,
            check=False,
        )
    if proc is not None:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@contextmanager
def start_postgres(
    prefix: str = "drkit-pg-", encoding: str = "UTF8", settings: tuple[str, ...] = ()
) -> Iterator[PgServer]:
    """A PostgreSQL 15 server archiving into its own repository; ``settings`` are extra
    postgresql.conf lines."""
    server_bin = bindir()
    if server_bin is None:
        if "pg" in os.environ.get("DRKIT_TEST_REQUIRE", "").split(","):
            pytest.fail("PostgreSQL 15 not installed, and DRKIT_TEST_REQUIRE includes pg")
        pytest.skip("PostgreSQL 15 not installed (Debian: postgresql-15)")
    base = make_shared_dir(prefix)
    proc = None
    data = base / "data"
    try:
        repo_pw = base / "repo-password"
        repo_url = init_repository(base / "repo", repo_pw)
        db_pw = base / "db-password"
        db_pw.write_text(DB_PASSWORD + "\n")
        db_pw.chmod(0o600)
        sock = base / "sock"
        sock.mkdir()
        give_to_postgres(sock, 0o755)
        _initdb(server_bin, base, data, encoding)
        archive = f"{sys.executable} -m drkit.cli.main pg wal-push %p --repo {repo_url} --password-file {repo_pw}"
        log = base / "server.log"
        for attempt in range(1, PORT_TRIES + 1):
            port = free_port()
            with open(data / "postgresql.conf", "a") as conf:  # a later line wins: a retry's port
                conf.write(_conf(port, sock, archive) + "".join(f"{line}\n" for line in settings))
            with open(log, "wb") as log_out:
                proc = subprocess.Popen(
                    as_postgres(server_bin / "postgres", "-D", data),
                    stdout=log_out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    cwd=base,
                )
            try:
                wait_ready(server_bin, port, proc, log, sock)
                break
            except PortTaken:
                if attempt == PORT_TRIES:
                    raise
        yield PgServer(base, data, port, repo_url, repo_pw, db_pw, server_bin)
    finally:
        if proc is not None:
            stop_cluster(server_bin, data, proc)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL 15 server per test session (tests create their own databases)."""
    with start_postgres() as server:
        yield server


# -- the drkit CLI against a fixture server ------------------------------------------------------
def repo_args(server: PgServer) -> list[str]:
    return ["--repo", server.repo_url, "--password-file", str(server.repo_password_file)]


def run(server: PgServer, *args: str, outputs: list[bytes] | None = None) -> subprocess.CompletedProcess[bytes]:
    """drkit with the server's repository; every output is kept (to grep for the password)."""
    proc = drkit(*args, *repo_args(server), timeout=600)
    if outputs is not None:
        outputs += [proc.stdout, proc.stderr]
    return proc


def db_opts(server: PgServer, dbname: str) -> list[str]:
    return ["--dsn", server.db_url(dbname), "--db-password-file", str(server.db_password_file)]


def normalised_dump(server: PgServer, dbname: str) -> str:
    """pg_dump (plain) without its random \\restrict keys and comment lines."""
    text = server.tool("pg_dump", "-d", dbname).decode()
    return "\n".join(
        ln for ln in text.splitlines() if not ln.startswith(("\\restrict", "\\unrestrict", "--")) and ln.strip()
    )


def normalised_globals(server: PgServer) -> str:
    text = server.tool("pg_dumpall", "--globals-only").decode()
    return "\n".join(
        ln for ln in text.splitlines() if not ln.startswith(("\\restrict", "\\unrestrict", "--")) and ln.strip()
    )


def assert_no_password(outputs: list[bytes]) -> None:
    for out in outputs:
        assert DB_PASSWORD.encode() not in out, out[-500:]
