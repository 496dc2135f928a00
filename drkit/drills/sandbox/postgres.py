"""PostgreSQL sandboxes for logical drills: a fresh cluster from ``initdb`` on a free loopback port
(as the unprivileged sandbox user when we are root), or a ``postgres:<major>`` container.
Point-in-time drills need no empty cluster: the restore itself starts the server on the restored
data directory (see drkit.drills.kinds.postgres)."""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ...core.errors import DrkitError
from ...sources.postgres.conn import PgConn
from ...sources.postgres.errors import PostgresError
from ...sources.postgres.process import find_tool, query
from ...sources.postgres.recovery import free_port, stop
from .docker import address, new_container, publish, running
from .workdir import give_to, sandbox_os_user

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

SUPERUSER = "postgres"
START_TIMEOUT = 60.0


def _as_user(argv: list[str], os_user: str | None) -> list[str]:
    return ["runuser", "-u", os_user, "--", *argv] if os_user else argv


def _run(argv: list[str], os_user: str | None, what: str) -> None:
    proc = subprocess.run(_as_user(argv, os_user), capture_output=True, timeout=300, check=False)
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.decode(errors="replace").split())[-300:]
        raise DrkitError(f"sandbox: {what} failed: {tail}")


def _wait_ready(conn: PgConn, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DrkitError(f"sandbox: postgres exited at start-up (see {log})")
        try:
            query(conn, "SELECT 1")
            return
        except PostgresError:
            time.sleep(0.2)
    raise DrkitError(f"sandbox: postgres did not accept connections within {START_TIMEOUT:.0f} s")


@contextmanager
def local_postgres(base: Path) -> Iterator[PgConn]:
    """An empty cluster in ``base/cluster``, trust auth on its private socket directory; stopped
    (immediate) and left for the caller's workdir cleanup."""
    os_user = sandbox_os_user()
    data = base / "cluster"
    data.mkdir(mode=0o700)
    give_to(data, os_user)
    _run([find_tool("initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
         os_user, "initdb")
    port = free_port()
    argv = [find_tool("postgres"), "-D", str(data), "-p", str(port), "-c", "listen_addresses=",
            "-c", f"unix_socket_directories={data}", "-c", "fsync=off", "-c", "full_page_writes=off"]
    log = data / "sandbox.log"
    with open(log, "ab") as out:
        give_to(log, os_user)
        proc = subprocess.Popen(_as_user(argv, os_user), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    conn = PgConn(host=str(data), port=port, user=SUPERUSER, dbname="postgres")
    try:
        _wait_ready(conn, proc, log)
        yield conn
    finally:
        stop(data, os_user=os_user, mode="immediate")
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


@contextmanager
def docker_postgres(image: str) -> Iterator[PgConn]:
    """A ``postgres:<major>`` container (or the job's ``drill.images.postgres``), removed afterwards.
    The superuser's password is a random one of this drill's, handed to the container in its
    environment (the official image's contract), never printed."""
    password = secrets.token_urlsafe(24)
    container = publish(new_container(image, "postgres"), 5432)
    container = container.with_env("POSTGRES_USER", SUPERUSER).with_env("POSTGRES_PASSWORD", password)
    with running(container):
        host, port = address(container, 5432)
        conn = PgConn(host=host, port=port, user=SUPERUSER, dbname="postgres", password=password)
        _wait_container(conn, container)
        yield conn


def _wait_container(conn: PgConn, container: DockerContainer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            query(conn, "SELECT 1")
            return
        except PostgresError as exc:
            wrapped = container.get_wrapped_container()
            wrapped.reload()
            if wrapped.status == "exited" or time.monotonic() > deadline:
                raise DrkitError(f"sandbox: postgres container did not accept connections ({exc.message})") from exc
            time.sleep(0.2)
