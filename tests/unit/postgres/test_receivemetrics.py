"""The WAL receiver's metrics: one family per metric in a registry, one sample set per job and slot;
lags computed from the server's position."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from promtext import metric

from drkit.sources.postgres.receivemetrics import ReceiveFamilies


def test_two_receivers_in_one_registry_and_their_lags() -> None:
    families = ReceiveFamilies(CollectorRegistry())
    a, b = families.bind("app-db", "drkit"), families.bind("other-db", "drkit")
    a.stored(0x3000100, at=1700000000.0)
    a.server(current_lsn=0x3000500, restart_lsn=0x3000000, received_lsn=0x3000100)
    a.up.set(1)
    b.restarts.inc()
    text = generate_latest(families.registry).decode()
    assert metric(text, "drkit_pg_receive_received_lsn", drkit_job="app-db", slot="drkit") == 0x3000100
    assert metric(text, "drkit_pg_receive_last_received_timestamp_seconds", drkit_job="app-db") == 1700000000.0
    assert metric(text, "drkit_pg_receive_slot_lag_bytes", drkit_job="app-db") == 0x500
    assert metric(text, "drkit_pg_receive_archive_lag_bytes", drkit_job="app-db") == 0x400
    assert metric(text, "drkit_pg_receive_up", drkit_job="app-db") == 1
    assert metric(text, "drkit_pg_receive_up", drkit_job="other-db") == 0
    assert metric(text, "drkit_pg_receive_restarts_total", drkit_job="other-db") == 1


def test_no_slot_reservation_yet_leaves_the_lags_at_zero() -> None:
    families = ReceiveFamilies(CollectorRegistry())
    families.bind("", "drkit").server(current_lsn=100, restart_lsn=None, received_lsn=None)
    text = generate_latest(families.registry).decode()
    assert metric(text, "drkit_pg_receive_server_lsn", slot="drkit") == 100
    assert metric(text, "drkit_pg_receive_slot_lag_bytes", slot="drkit") == 0
    assert metric(text, "drkit_pg_receive_archive_lag_bytes", slot="drkit") == 0
