"""``drkit pg receive``: stream a server's WAL into the repository's WAL archive, continuously.

pg_receivewal (``sources.postgres.receive``) writes into a spool directory; every ``interval`` the
spool is synced into the archive (``sources.postgres.walstream``): complete segments as
``wal-push`` stores them, the segment being received as a streamed partial, so the archive lags the
server by about one interval. When pg_receivewal stops after it had streamed (the server restarted,
the network dropped), it is started again with a growing pause; when it fails before streaming the
first time (a wrong password, no slot, replication not allowed) the command fails with its reason.
A storage error leaves the WAL in the spool for the next sync."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ...core import clock
from ...core.errors import DrkitError, IntegrityError, StorageError
from ...repository.repo import Repository
from .conn import PgConn
from .errors import PostgresError
from .receive import Receiver, create_slot, slot_state, wait_slot_free
from .receivemetrics import ReceiveMetrics
from .sql import scalar
from .wal import format_lsn
from .walstream import SpoolSync

MAX_PAUSE = 60.0  # seconds between restarts of pg_receivewal, at most
SERVER_EVERY = 5  # read the slot's state every this many sync attempts


@dataclass(frozen=True, kw_only=True)
class ReceiveRequest:
    spool: Path
    slot: str = "drkit"
    interval: float = 1.0
    create_slot: bool = True
    slot_wait: float = 60.0  # seconds to wait for a killed receiver's connection to release the slot
    report: Callable[[str], None] = lambda text: None
    stop: threading.Event = field(default_factory=threading.Event)  # set: stop (the daemon); the CLI gets signals


class _Loop:
    def __init__(
        self, repo: Repository, conn: PgConn, req: ReceiveRequest, metrics: ReceiveMetrics, seg_size: int
    ) -> None:
        self.conn, self.req, self.metrics = conn, req, metrics
        self.sync = SpoolSync(repo, req.spool, seg_size)
        self.received: int | None = None
        self.attempts = 0

    def sync_once(self) -> None:
        """One sync; every ``SERVER_EVERY`` attempts, failed or not, the server's position is read too: a
        storage outage must show as a growing archive lag (``DrkitWalReceiveStale`` needs it > 0)."""
        self.attempts += 1
        self._sync()
        if self.attempts % SERVER_EVERY == 1:
            self._read_server()

    def _sync(self) -> None:
        try:
            result = self.sync.sync()
        except IntegrityError:
            raise  # another cluster's WAL under these names: never paper over it
        except StorageError as exc:
            self.req.report(f"warning: {exc.message}; the WAL stays in {self.req.spool} for the next sync")
            return
        if result.received_lsn is not None and result.received_lsn != self.received:
            self.received = result.received_lsn
            self.metrics.stored(result.received_lsn, clock.now())
        for name in result.segments:
            self.req.report(f"archived {name}")
        self.metrics.syncs.inc()

    def _read_server(self) -> None:
        try:
            state = slot_state(self.conn, self.req.slot)
        except PostgresError as exc:  # metrics only; streaming goes on
            self.req.report(f"warning: cannot read the slot's state: {exc.message}")
            return
        self.metrics.server(state.current_lsn, state.restart_lsn, self.received)

    def follow(self, receiver: Receiver) -> bool:
        """Sync while pg_receivewal runs; True if it streamed."""
        streamed = False
        try:
            while receiver.running() and not self.req.stop.is_set():
                if not streamed and receiver.streamed():
                    streamed = True
                    self.metrics.up.set(1)
                self.sync_once()
                self.req.stop.wait(self.req.interval)
        finally:  # a sync that raises (another cluster's WAL) stops the streaming too: never left at 1
            self.metrics.up.set(0)
        return streamed or receiver.streamed()

    def run_receiver(self) -> tuple[bool, str]:
        """One pg_receivewal run: (streamed, why it stopped)."""
        wait_slot_free(self.conn, self.req.slot, self.req.slot_wait)
        receiver = Receiver(self.conn, self.req.slot, self.req.spool)
        try:
            streamed = self.follow(receiver)
            return streamed, receiver.failure()
        finally:
            receiver.stop()
            self._final_sync()

    def _final_sync(self) -> None:
        try:
            self.sync_once()
        except DrkitError as exc:
            self.req.report(f"warning: last sync failed: {exc.message}")


def receive(repo: Repository, conn: PgConn, req: ReceiveRequest, metrics: ReceiveMetrics) -> None:
    """Run until stopped (SIGTERM or Ctrl-C raised in this thread, or ``req.stop`` set) or until
    pg_receivewal fails before it ever streamed."""
    seg_size = int(scalar(conn, "SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'"))
    req.spool.mkdir(mode=0o700, parents=True, exist_ok=True)
    if req.create_slot:
        create_slot(conn, req.slot)
    loop = _Loop(repo, conn, req, metrics, seg_size)
    loop.sync_once()  # what an earlier run left in the spool
    start = slot_state(conn, req.slot).restart_lsn
    held = f"it holds WAL from {format_lsn(start)}" if start is not None else "it starts at the server's position"
    req.report(f"receiving WAL through slot {req.slot!r} into {req.spool} ({held})")
    ever, pause = False, 1.0
    while not req.stop.is_set():
        try:
            streamed, why = loop.run_receiver()
        except PostgresError as exc:  # the server is away (restarting): try again once it had streamed
            if not ever:
                raise
            streamed, why = False, exc.message
        if req.stop.is_set():
            return
        if not streamed and not ever:
            raise PostgresError(
                why,
                hint="the role needs REPLICATION and a pg_hba.conf `replication` entry; the "
                "server needs wal_level replica and free max_wal_senders",
            )
        ever = ever or streamed
        pause = 1.0 if streamed else min(pause * 2, MAX_PAUSE)
        metrics.restarts.inc()
        req.report(f"warning: {why}; starting pg_receivewal again in {pause:.0f} s")
        req.stop.wait(pause)


__all__ = ["ReceiveRequest", "receive"]
