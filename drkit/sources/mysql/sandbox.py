"""A throwaway local MariaDB / MySQL server for drills: ``mariadb-install-db`` into a directory of the
drill's private work directory, a Unix socket there and no TCP port (``--skip-networking``), run as
the unprivileged ``mysql`` OS user when drkit runs as root (the server refuses root; it switches
user itself with ``--user``). Polled until it answers; always stopped on exit.

Its temp dir (``--tmpdir``) is its own too: a starting MariaDB server (``mariadb-install-db``'s bootstrap
one as well) deletes every ``#sql*`` file in its temp dir, taking them for the temporary tables of a
crashed run. In the host's ($TMPDIR, else /tmp: Debian's default for its server too) those were the
live temporary tables of any other server on the host: a production server's, a concurrent drill's."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .conn import MysqlConn
from .errors import MysqlError, MysqlUnreachable

READY_TIMEOUT = 120.0
OS_USER_ENV = "DRKIT_MYSQL_SANDBOX_USER"


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise MysqlError(
            f"{name} not found: a MySQL drill runs a local server",
            hint="install the MariaDB server (Debian: mariadb-server)",
        )
    return found


def _hand_over(base: Path) -> list[str]:
    """Under root: the directory to the ``mysql`` user (or $DRKIT_MYSQL_SANDBOX_USER), and --user."""
    if os.geteuid() != 0:
        return []
    user = os.environ.get(OS_USER_ENV, "mysql")
    pw = pwd.getpwnam(user)
    base.parent.chmod(0o711)  # the drill's work dir: traversable, not listable
    for path in [base, *base.rglob("*")]:
        os.chown(path, pw.pw_uid, pw.pw_gid)
    return [f"--user={user}"]


def _install(base: Path, user: list[str]) -> None:
    proc = subprocess.run(
        [
            _binary("mariadb-install-db"),
            "--no-defaults",
            f"--datadir={base / 'data'}",
            *user,
            "--skip-test-db",
            "--auth-root-authentication-method=normal",
            f"--tmpdir={base / 'tmp'}",  # passed on to its bootstrap server
        ],
        capture_output=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.decode(errors="replace").split()[-40:])
        raise MysqlError(f"mariadb-install-db failed (exit {proc.returncode}): {tail}")


def _ready(proc: subprocess.Popen[bytes], conn: MysqlConn, log: Path) -> None:
    from .process import query

    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise MysqlError(
                f"the sandbox server exited ({proc.returncode}): "
                f"{' '.join(log.read_text(errors='replace').split()[-40:])}"
            )
        try:
            query(conn, "SELECT 1")
            return
        except (MysqlError, MysqlUnreachable):  # not up yet
            if time.monotonic() > deadline:
                raise MysqlError(f"the sandbox server did not answer within {READY_TIMEOUT:.0f}s") from None
        time.sleep(0.2)  # polling a starting server: it signals readiness only by answering


@contextmanager
def local_server(workdir: Path) -> Iterator[MysqlConn]:
    """A running server whose root login (no password, socket only) is the yielded connection."""
    base = workdir / "mysql"
    (base / "data").mkdir(parents=True)
    (base / "tmp").mkdir()
    user = _hand_over(base)
    _install(base, user)
    sock, log = base / "mysqld.sock", base / "error.log"
    argv = [
        _binary("mariadbd"),
        "--no-defaults",
        f"--datadir={base / 'data'}",
        f"--socket={sock}",
        f"--tmpdir={base / 'tmp'}",
        "--skip-networking",
        f"--pid-file={base / 'mysqld.pid'}",
        f"--log-error={log}",
        *user,
        "--innodb-buffer-pool-size=64M",
        "--skip-log-bin",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        conn = MysqlConn(host="localhost", user="root", socket=str(sock))
        _ready(proc, conn, log)
        yield conn
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
