"""PostgreSQL sandboxes for logical drills: a fresh cluster from ``initdb`` on a free loopback port
(as the unprivileged sandbox user when we are root), or a ``postgres:<major>`` container.
Point-in-time drills need no empty cluster: the restore itself starts the server on the restored
data directory (see drills/drill.py)."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ....core.childenv import child_environ
from ....core.errors import DrkitError
from ....drills.sandbox.docker import address, new_container, publish, running
from ....drills.sandbox.workdir import give_to, sandbox_os_user
from ..conn import PgConn
from ..errors import PostgresError
from ..process import find_tool
from ..recovery import free_port, stop
from ..sql import scalar

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

SUPERUSER = "postgres"
START_TIMEOUT = 60.0


def _as_user(argv: list[str], os_user: str | None) -> list[str]:
    return ["runuser", "-u", os_user, "--", *argv] if os_user else argv


def _run(argv: list[str], os_user: str | None, what: str) -> None:
    proc = subprocess.run(_as_user(argv, os_user), capture_output=True, timeout=300, check=False, env=child_environ())
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.decode(errors="replace").split())[-300:]
        raise DrkitError(f"sandbox: {what} failed: {tail}")


def _wait_ready(conn: PgConn, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DrkitError(f"sandbox: postgres exited at start-up (see {log})")
        try:
            scalar(conn, "SELECT 1")
            return
        except PostgresError:
            time.sleep(0.2)
    raise DrkitError(f"sandbox: postgres did not accept connections within {START_TIMEOUT:.0f} s")


@contextmanager
def local_postgres(base: Path, encoding: str = "UTF8") -> Iterator[PgConn]:
    """An empty cluster in ``base/cluster`` with ``encoding`` (its ``postgres`` database is where a
    dump of ``postgres`` restores, so it takes the backup's encoding; locale C.UTF-8, or C for
    another encoding), trust auth on its private socket directory; stopped (immediate) and left
    for the caller's workdir cleanup."""
    os_user = sandbox_os_user()
    data = base / "cluster"
    data.mkdir(mode=0o700)
    give_to(data, os_user)
    locale = "C.UTF-8" if encoding.upper() in ("UTF8", "UTF-8") else "C"
    _run(
        [find_tool("initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", encoding, f"--locale={locale}"],
        os_user,
        "initdb",
    )
    port = free_port()
    argv = [
        find_tool("postgres"),
        "-D",
        str(data),
        "-p",
        str(port),
        "-c",
        "listen_addresses=",
        "-c",
        f"unix_socket_directories={data}",
        "-c",
        "fsync=off",
        "-c",
        "full_page_writes=off",
    ]
    log = data / "sandbox.log"
    with open(log, "ab") as out:
        give_to(log, os_user)
        proc = subprocess.Popen(
            _as_user(argv, os_user),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=child_environ(),
        )
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
def docker_postgres(image: str, encoding: str = "UTF8") -> Iterator[PgConn]:
    """A ``postgres:<major>`` container (or the job's ``drill.images.postgres``), removed afterwards.
    The superuser's password is a random one of this drill's, handed to the container in its
    environment (the official image's contract), never printed. The cluster gets ``encoding``
    (as ``local_postgres``) through the image's ``POSTGRES_INITDB_ARGS``."""
    password = secrets.token_urlsafe(24)
    container = publish(new_container(image, "postgres"), 5432)
    container = container.with_env("POSTGRES_USER", SUPERUSER).with_env("POSTGRES_PASSWORD", password)
    if encoding.upper() not in ("UTF8", "UTF-8"):
        container = container.with_env("POSTGRES_INITDB_ARGS", f"--encoding={encoding} --locale=C")
    with running(container):
        host, port = address(container, 5432)
        conn = PgConn(host=host, port=port, user=SUPERUSER, dbname="postgres", password=password)
        _wait_container(conn, container)
        yield conn


def _wait_container(conn: PgConn, container: DockerContainer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            scalar(conn, "SELECT 1")
            return
        except PostgresError as exc:
            wrapped = container.get_wrapped_container()
            wrapped.reload()
            if wrapped.status == "exited" or time.monotonic() > deadline:
                raise DrkitError(f"sandbox: postgres container did not accept connections ({exc.message})") from exc
            time.sleep(0.2)


CONTAINER_PGDATA = "/var/lib/postgresql/data"
CONTAINER_SPOOL = f"{CONTAINER_PGDATA}/drkit_wal_spool"
DRILL_ROLE = "drkit_drill"


def container_restore_command() -> str:
    """restore_command inside a container, which has no drkit: the WAL drkit prefetched into the
    spool, and nothing else (a segment missing there ends recovery, which then reports the target
    as not reached instead of promoting early)."""
    return f"cp {CONTAINER_SPOOL}/%f %p"


def _container_settings(data_dir: Path) -> None:
    """Settings the source's configuration may hold that cannot work in a container (its port, a
    socket directory on the source host, loopback-only listening), overridden last; access only
    through the container's own socket until the drill's role exists."""
    if not (data_dir / "postgresql.conf").exists():  # a Debian-layout source keeps it elsewhere
        (data_dir / "postgresql.conf").write_text("")
    with open(data_dir / "postgresql.auto.conf", "a") as f:
        f.write(
            "\n# drkit container sandbox\nport = 5432\nlisten_addresses = '*'\n"
            "unix_socket_directories = '/var/run/postgresql'\n"
        )
    (data_dir / "pg_hba.conf").write_text("local all all trust\n")


@contextmanager
def docker_recovery(data_dir: Path, image: str) -> Iterator[PgConn]:
    """Run recovery of the restored ``data_dir`` in a ``postgres:<major>`` container (the directory
    mounted as its PGDATA), wait until it has promoted, then open TCP access for a drill role with a
    random password (scram; the port published on loopback only) and yield a connection as it."""
    _container_settings(data_dir)
    container = publish(new_container(image, "postgres"), 5432)
    container = container.with_volume_mapping(str(data_dir), CONTAINER_PGDATA, "rw")
    with running(container):
        _wait_promoted(container)
        password = secrets.token_urlsafe(24)
        _open_drill_role(container, data_dir, password)
        host, port = address(container, 5432)
        conn = PgConn(host=host, port=port, user=DRILL_ROLE, dbname="postgres", password=password)
        _wait_container(conn, container)
        yield conn


def _psql(container: DockerContainer, sql_or_file: str, *, file: bool = False) -> tuple[int, str]:
    argv = [
        "psql",
        "-XAtq",
        "-U",
        SUPERUSER,
        "-d",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-f" if file else "-c",
        sql_or_file,
    ]
    code, out = container.get_wrapped_container().exec_run(argv, user="postgres")
    return int(code), out.decode(errors="replace").strip()


def _wait_promoted(container: DockerContainer) -> None:
    deadline = time.monotonic() + START_TIMEOUT * 10  # replaying WAL can take a while
    while time.monotonic() < deadline:
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        if wrapped.status == "exited":
            lines = wrapped.logs().decode(errors="replace").splitlines()
            fatal = [ln for ln in lines if "FATAL" in ln or "PANIC" in ln]
            raise PostgresError(f"the restored server stopped during recovery: {(fatal or ['no FATAL line'])[-1]}")
        code, out = _psql(container, "SELECT pg_is_in_recovery()")
        if code == 0 and out == "f":
            return
        time.sleep(0.2)
    raise PostgresError("recovery in the container did not finish in time")


def _open_drill_role(container: DockerContainer, data_dir: Path, password: str) -> None:
    """A superuser role for the drill's checks, its password set from a 0600 file in the mounted
    directory (not an argument: exec'd commands show in the host's process list), then TCP access
    for that role alone."""
    sql = data_dir / "drkit-drill-role.sql"
    fd = os.open(sql, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # read by the container's postgres user
    try:
        with os.fdopen(fd, "w") as f:
            quoted = password.replace("'", "''")
            f.write(
                f"SET password_encryption = 'scram-sha-256';\n"
                f"CREATE ROLE {DRILL_ROLE} SUPERUSER LOGIN PASSWORD '{quoted}';\n"
            )
        code, out = _psql(container, f"{CONTAINER_PGDATA}/{sql.name}", file=True)
    finally:
        sql.unlink(missing_ok=True)
    if code != 0:
        raise PostgresError(f"sandbox: cannot create the drill role: {out[-200:]}")
    with open(data_dir / "pg_hba.conf", "a") as f:
        f.write(f"host all {DRILL_ROLE} all scram-sha-256\n")
    code, out = _psql(container, "SELECT pg_reload_conf()")
    if code != 0:
        raise PostgresError(f"sandbox: cannot reload the configuration: {out[-200:]}")
