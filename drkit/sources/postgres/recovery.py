"""Start PostgreSQL on a restored data directory and wait until recovery reached its target.

The server runs in its own session on 127.0.0.1:port with its socket in the data directory, as
``os_user`` (via ``runuser``) when drkit runs as root; its log goes to ``drkit-recovery.log`` in
the data directory. It is left running for the caller; ``stop`` shuts it down (immediate)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ...core import clock
from ...core.childenv import child_environ
from .conn import PgConn
from .errors import PostgresError
from .process import find_tool
from .sql import scalar

LOG_NAME = "drkit-recovery.log"
_REACHED = re.compile(
    r"(recovery stopping [^\n]*|last completed transaction was at log time [^\n]*|"
    r"redo done at [^\n]*|selected new timeline ID: \d+)"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_user(argv: list[str], os_user: str | None) -> list[str]:
    return ["runuser", "-u", os_user, "--", *argv] if os_user else argv


@dataclass(frozen=True)
class Recovered:
    port: int
    data_dir: Path
    replay_lsn: str
    reached: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://127.0.0.1:{self.port}/postgres"


def start_recovery(data_dir: Path, *, port: int = 0, os_user: str | None = None, timeout: float = 600.0) -> Recovered:
    """Start the server and wait until it has left recovery (promoted at the target)."""
    port = port or free_port()
    argv = [
        find_tool("postgres"),
        "-D",
        str(data_dir),
        "-p",
        str(port),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"unix_socket_directories={data_dir}",
    ]
    log = data_dir / LOG_NAME
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            _as_user(argv, os_user),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=data_dir,
        )
    conn = PgConn(host=str(data_dir), port=port, user=os.environ.get("PGUSER") or os_user, dbname="postgres")
    try:
        _wait_promoted(proc, conn, log, timeout)
    except BaseException:
        stop(data_dir, os_user=os_user)
        raise
    lsn = str(scalar(conn, "SELECT pg_last_wal_replay_lsn()"))
    return Recovered(port, data_dir, lsn, _REACHED.findall(log.read_text(errors="replace")))


def _wait_promoted(proc: subprocess.Popen[bytes], conn: PgConn, log: Path, timeout: float) -> None:
    deadline = clock.monotonic() + timeout
    while clock.monotonic() < deadline:
        if proc.poll() is not None:
            raise PostgresError(f"the restored server stopped during recovery: {_last_fatal(log)}")
        try:
            if scalar(conn, "SELECT pg_is_in_recovery()") is False:
                return
        except PostgresError:
            pass
        time.sleep(0.2)
    raise PostgresError(f"recovery did not finish within {timeout:.0f} s (see {log})")


def _last_fatal(log: Path) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if "FATAL:" in ln or "PANIC:" in ln]
    return lines[-1].split("FATAL:", 1)[-1].strip() if lines else f"see {log}"


def stop(data_dir: Path, *, os_user: str | None = None, mode: str = "fast") -> None:
    if not (data_dir / "postmaster.pid").exists():
        return
    subprocess.run(
        _as_user([find_tool("pg_ctl"), "stop", "-D", str(data_dir), "-m", mode, "-w", "-t", "60"], os_user),
        capture_output=True,
        timeout=120,
        check=False,
        env=child_environ(),
    )
