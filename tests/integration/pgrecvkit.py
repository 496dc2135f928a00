"""Helpers for the WAL receiver tests: `drkit pg receive` as a process with its metrics page,
pgbench load, and reading a restored server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from clirun import DRKIT
from promtext import metric
from servers.postgres import DB_PASSWORD, PgServer, db_opts, free_port, make_shared_dir, repo_args, run, stop_cluster

WAIT = 180.0  # generous: 2 cores shared by many test runs
T = TypeVar("T")


def wait_until(what: str, probe: Callable[[], T | None], timeout: float = WAIT) -> T:
    """Poll ``probe`` until it returns a value other than None/False."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.2)


def lsn(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


@dataclass
class ReceiverProc:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    slot: str = "drkit"

    def metrics(self) -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as resp:
                return str(resp.read().decode())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            assert self.proc.poll() is None, f"receiver exited {self.proc.returncode}: {self.output()}"
            return None

    def value(self, name: str) -> float | None:
        text = self.metrics()
        return None if text is None else metric(text, name, slot=self.slot)

    def wait_streaming(self) -> None:
        wait_until("the receiver to stream", lambda: self.value("drkit_pg_receive_up") == 1)

    def wait_stored(self, server: PgServer, end: int) -> None:
        """Wait until pg_receivewal has written WAL up to ``end`` (the server's view) and two more
        syncs have stored the spool."""
        wait_until(
            f"pg_receivewal to write {end:X}",
            lambda: lsn(server.psql("SELECT coalesce(max(write_lsn), '0/0') FROM pg_stat_replication")) >= end,
        )
        syncs = self.value("drkit_pg_receive_syncs_total") or 0
        wait_until("two syncs", lambda: (self.value("drkit_pg_receive_syncs_total") or 0) >= syncs + 2)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> float:
        """SIGKILL; the wall-clock instant it was sent (the host's clock, which PostgreSQL's now() reads too)."""
        self.proc.send_signal(signal.SIGKILL)
        killed_at = time.time()
        self.proc.wait(timeout=60)
        return killed_at

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)


def start_receiver(server: PgServer, spool: Path, log: Path, slot: str = "drkit") -> ReceiverProc:
    port = free_port()
    argv = [
        *DRKIT,
        "pg",
        "receive",
        *repo_args(server),
        *db_opts(server, "postgres"),
        "--spool-dir",
        str(spool),
        "--interval",
        "1s",
        "--metrics-port",
        str(port),
        "--slot",
        slot,
    ]
    out = open(log, "ab")  # noqa: SIM115 - the child holds it
    try:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        out.close()
    rec = ReceiverProc(proc, port, log, slot)
    rec.wait_streaming()
    return rec


@contextmanager
def pgbench_load(server: PgServer, dbname: str) -> Iterator[subprocess.Popen[bytes]]:
    argv = [
        str(server.bindir / "pgbench"),
        "-h",
        "127.0.0.1",
        "-p",
        str(server.port),
        "-U",
        "postgres",
        "-n",
        "-c",
        "2",
        "-j",
        "2",
        "-T",
        "600",
        dbname,
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=server.env())
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)


def current_lsn(server: PgServer) -> int:
    return lsn(server.psql("SELECT pg_current_wal_lsn()"))


@dataclass
class Restored:
    server: PgServer
    port: int
    data: Path
    replay_lsn: str

    def psql(self, sql: str, dbname: str) -> str:
        out = subprocess.run(
            [
                str(self.server.bindir / "psql"),
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
            env={**self.server.env(), "PGPASSWORD": DB_PASSWORD},
            timeout=120,
            check=False,
        )
        assert out.returncode == 0, out.stderr.decode()
        return out.stdout.decode().strip()

    def dump(self, dbname: str) -> str:
        out = subprocess.run(
            [
                str(self.server.bindir / "pg_dump"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                dbname,
            ],
            capture_output=True,
            env={**self.server.env(), "PGPASSWORD": DB_PASSWORD},
            timeout=300,
            check=False,
        )
        assert out.returncode == 0, out.stderr.decode()
        return normalise(out.stdout.decode())


def normalise(text: str) -> str:
    return "\n".join(
        ln for ln in text.splitlines() if not ln.startswith(("\\restrict", "\\unrestrict", "--")) and ln.strip()
    )


@contextmanager
def restored(server: PgServer, *target: str) -> Iterator[Restored]:
    """Restore the newest base backup + WAL (to ``target``, else to the end) and start it."""
    base = make_shared_dir("drkit-recv-restore-")
    data = base / "data"
    try:
        proc = run(server, "restore", "postgres", "--target-dir", str(data), *target, "--start", "--json")
        assert proc.returncode == 0, proc.stderr.decode()
        doc = json.loads(proc.stdout)
        yield Restored(server, doc["port"], data, doc["replay_lsn"])
    finally:
        stop_cluster(server.bindir, data)
        shutil.rmtree(base, ignore_errors=True)


def spool_dir() -> Path:
    path = make_shared_dir("drkit-recv-spool-")
    os.chmod(path, 0o700)
    return path


def receivewal_cmdlines() -> list[bytes]:
    """The argv of every running pg_receivewal (from /proc), to check no password is in one."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
        except OSError:
            continue
        if b"pg_receivewal" in cmdline.split(b"\0", 1)[0] or b"/pg_receivewal\0" in cmdline:
            found.append(cmdline)
    return found
