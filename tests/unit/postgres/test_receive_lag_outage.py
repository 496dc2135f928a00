"""The receiver keeps reading the server's position while its syncs into the repository fail: the archive
lag grows during a storage outage, so ``DrkitWalReceiveStale`` (which needs the lag above 0) can fire; and a
sync that stops it (another cluster's WAL) leaves it down (``DrkitWalReceiverDown``).

On the old code the position was read only after a sync that succeeded: a receiver caught up (lag 0) when
the storage went away kept exporting a lag of 0 however much WAL the server wrote, and the alert built for
that outage stayed quiet."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from promtext import metric

from drkit.core import clock
from drkit.core.errors import IntegrityError, StorageError
from drkit.sources.postgres import ops_receive
from drkit.sources.postgres.receive import SlotState
from drkit.sources.postgres.receivemetrics import ReceiveFamilies
from drkit.sources.postgres.walstream import SyncResult


class FlakyStore:
    """Stores up to LSN 100, then every sync fails as an unreachable store does."""

    def __init__(self) -> None:
        self.calls = 0

    def sync(self) -> SyncResult:
        self.calls += 1
        if self.calls == 1:
            return SyncResult(received_lsn=100)
        raise StorageError("the store is unreachable")


def test_the_archive_lag_grows_while_syncs_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = {"lsn": 100}
    monkeypatch.setattr(ops_receive, "slot_state", lambda conn, slot: SlotState(server["lsn"], 50, None))
    families = ReceiveFamilies(CollectorRegistry())
    reports: list[str] = []
    req = ops_receive.ReceiveRequest(spool=tmp_path / "spool", report=reports.append)
    loop = ops_receive._Loop(None, None, req, families.bind("db", "drkit"), 16 << 20)  # type: ignore[arg-type]
    loop.sync = FlakyStore()  # type: ignore[assignment]
    loop.sync_once()  # stored up to 100, the server at 100: caught up

    def lag() -> float | None:
        return metric(generate_latest(families.registry).decode(), "drkit_pg_receive_archive_lag_bytes", slot="drkit")

    assert lag() == 0
    server["lsn"] = 4096  # the server writes on; every sync now fails
    for _ in range(2 * ops_receive.SERVER_EVERY):
        loop.sync_once()
    assert lag() == 4096 - 100
    assert any("unreachable" in line for line in reports)


class Streaming:
    """A pg_receivewal that runs and has streamed."""

    def running(self) -> bool:
        return True

    def streamed(self) -> bool:
        return True


class ForeignWal:
    """The first sync finds another cluster's WAL under the archive's names."""

    def sync(self) -> SyncResult:
        raise IntegrityError("WAL segment 000000010000000000000003 differs from the archived one")


def test_a_sync_that_stops_the_receiver_leaves_it_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the old code the IntegrityError left drkit_pg_receive_up at 1 while nothing streamed (the daemon
    retrying, failing the same way): DrkitWalReceiverDown stayed quiet."""
    monkeypatch.setattr(ops_receive, "slot_state", lambda conn, slot: SlotState(100, 50, None))
    families = ReceiveFamilies(CollectorRegistry())
    loop = ops_receive._Loop(
        None, None, ops_receive.ReceiveRequest(spool=tmp_path), families.bind("db", "drkit"), 1 << 24
    )  # type: ignore[arg-type]
    loop.sync = ForeignWal()  # type: ignore[assignment]
    with pytest.raises(IntegrityError):
        loop.follow(Streaming())  # type: ignore[arg-type]
    assert metric(generate_latest(families.registry).decode(), "drkit_pg_receive_up", slot="drkit") == 0


class DownStore:
    """Every sync fails: the storage is down from the receiver's start."""

    def sync(self) -> SyncResult:
        raise StorageError("the store is unreachable")


def test_the_archive_lag_grows_when_the_storage_is_down_from_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the old code nothing was ever stored, so neither the lag nor the time of the last receipt was set:
    DrkitWalReceiveStale had no series to fire on however long the outage lasted."""
    server = {"lsn": 1000}
    monkeypatch.setattr(ops_receive, "slot_state", lambda conn, slot: SlotState(server["lsn"], 50, None))
    monkeypatch.setattr(clock, "now", lambda: 1_700_000_000.0)
    families = ReceiveFamilies(CollectorRegistry())
    req = ops_receive.ReceiveRequest(spool=tmp_path / "spool")
    loop = ops_receive._Loop(None, None, req, families.bind("db", "drkit"), 16 << 20)  # type: ignore[arg-type]
    loop.sync = DownStore()  # type: ignore[assignment]

    def sample(name: str) -> float | None:
        return metric(generate_latest(families.registry).decode(), name, slot="drkit")

    loop.sync_once()
    assert sample("drkit_pg_receive_archive_lag_bytes") == 0
    assert sample("drkit_pg_receive_last_received_timestamp_seconds") == 1_700_000_000.0
    server["lsn"] = 9000  # the server writes on; nothing reaches the repository
    for _ in range(2 * ops_receive.SERVER_EVERY):
        loop.sync_once()
    assert sample("drkit_pg_receive_archive_lag_bytes") == 9000 - 1000
    assert sample("drkit_pg_receive_last_received_timestamp_seconds") == 1_700_000_000.0


def test_a_restarted_run_keeps_the_last_known_archived_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon starts a failed receiver run again with the same metrics: a run that stores nothing counts
    the lag from what an earlier run stored, and keeps that run's time of the last receipt."""
    server = {"lsn": 100}
    monkeypatch.setattr(ops_receive, "slot_state", lambda conn, slot: SlotState(server["lsn"], 50, None))
    families = ReceiveFamilies(CollectorRegistry())
    metrics = families.bind("db", "drkit")
    metrics.stored(100, 1_700_000_000.0)
    loop = ops_receive._Loop(None, None, ops_receive.ReceiveRequest(spool=tmp_path), metrics, 16 << 20)  # type: ignore[arg-type]
    loop.sync = DownStore()  # type: ignore[assignment]
    server["lsn"] = 5000
    loop.sync_once()
    text = generate_latest(families.registry).decode()
    assert metric(text, "drkit_pg_receive_archive_lag_bytes", slot="drkit") == 5000 - 100
    assert metric(text, "drkit_pg_receive_last_received_timestamp_seconds", slot="drkit") == 1_700_000_000.0
