"""pg_receivewal as drkit's WAL receiver: a physical replication slot, and the tool streaming the
server's WAL into a spool directory (``walstream.SpoolSync`` moves it into the repository).

Why pg_receivewal rather than psycopg: psycopg 3 does not speak the replication protocol (only
psycopg2's ``ReplicationCursor`` does, which would mean a second driver and hand-written segment
files, timeline switches and feedback). pg_receivewal, from the PostgreSQL client tools, is the
well-kept implementation Barman also runs: it writes ``<segment>.partial`` as WAL arrives, renames
it when the segment is complete, follows timeline switches, and on a restart resumes after the
newest segment in its directory or, when that is empty, from the slot's ``restart_lsn``.

The password reaches pg_receivewal through its environment only (``PgConn.env``), never argv. With
``setpriv`` (util-linux) pg_receivewal gets SIGINT when drkit dies, even by SIGKILL, so a killed
receiver does not leave a tool holding the slot.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ...core import clock
from .conn import PgConn
from .errors import PostgresError
from .process import error_summary, find_tool, run
from .sql import rows
from .wal import parse_lsn

STARTED = b"starting log streaming at"
STOP_TIMEOUT = 30.0


@dataclass(frozen=True)
class SlotState:
    current_lsn: int  # the server's WAL write position
    restart_lsn: int | None  # what the slot still holds for the receiver (None: nothing reserved yet)
    active_pid: int | None


def _lsn(text: str | None) -> int | None:
    return None if text is None else parse_lsn(str(text))


def create_slot(conn: PgConn, slot: str) -> None:
    """The physical replication slot, created unless it exists (over the replication protocol: a
    role with REPLICATION suffices)."""
    run("pg_receivewal", ["--create-slot", "--if-not-exists", "--slot", slot, "-d", conn.dsn()], conn, timeout=60)


def slot_state(conn: PgConn, slot: str) -> SlotState:
    found = rows(
        conn,
        "SELECT pg_current_wal_lsn()::text, restart_lsn::text, active_pid FROM pg_replication_slots "
        "WHERE slot_name = %s",
        (slot,),
    )
    if not found:
        raise PostgresError(f"replication slot {slot!r} does not exist on the server")
    current, restart, pid = found[0]
    return SlotState(_lsn(current) or 0, _lsn(restart), pid)


def wait_slot_free(conn: PgConn, slot: str, timeout: float) -> SlotState:
    """Wait until no other process streams from the slot (a killed receiver's connection may take a
    moment to go); past ``timeout``, another receiver is using it."""
    deadline = clock.monotonic() + timeout
    while True:
        state = slot_state(conn, slot)
        if state.active_pid is None:
            return state
        if clock.monotonic() > deadline:
            raise PostgresError(
                f"replication slot {slot!r} is in use by server process {state.active_pid}",
                hint="another `drkit pg receive` (or pg_receivewal) streams from it; run one "
                "receiver per slot, or give --slot",
            )
        time.sleep(0.5)


class Receiver:
    """One pg_receivewal run into ``spool``; stderr goes to a temp file, read for its state."""

    def __init__(self, conn: PgConn, slot: str, spool: Path) -> None:
        self.conn = conn
        argv = [
            find_tool("pg_receivewal"),
            "-D",
            str(spool),
            "--slot",
            slot,
            "--no-loop",
            "--verbose",
            "--status-interval",
            "1",
            "-d",
            conn.dsn(),
        ]
        setpriv = shutil.which("setpriv")
        if setpriv is not None:
            argv = [setpriv, "--pdeathsig", "INT", "--", *argv]
        self._err = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._err, env=conn.env()
            )
        except OSError as exc:
            self._err.close()
            raise PostgresError(f"cannot run pg_receivewal: {exc.strerror}") from None

    def running(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> bytes:
        """What pg_receivewal wrote so far; read with pread, which leaves the file offset it shares with
        the child alone (a seek would make its next lines overwrite the first ones)."""
        fd = self._err.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0)

    def streamed(self) -> bool:
        """True once pg_receivewal has connected and started streaming."""
        return STARTED in self.stderr()

    def failure(self) -> str:
        """The one-line reason pg_receivewal stopped (password redacted)."""
        return error_summary("pg_receivewal", self.stderr(), self.proc.returncode or 0, self.conn.secrets())

    def stop(self) -> None:
        """SIGINT (pg_receivewal then writes what it has and exits); SIGKILL past ``STOP_TIMEOUT``."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._err.close()


__all__ = ["Receiver", "SlotState", "create_slot", "slot_state", "wait_slot_free"]
