"""Prometheus metrics of the WAL receiver (``drkit pg receive``), labelled by replication slot.

LSNs are exported as numbers (bytes since the start of WAL): a float holds them exactly up to
2^53 bytes (8 PiB of WAL). The archive lag is the server's write position minus the end of the WAL
in the repository: with the time of the last receipt, what an RPO alert watches."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

SLOT_LABEL = "slot"


@dataclass(frozen=True)
class ReceiveMetrics:
    registry: CollectorRegistry
    received_lsn: Gauge
    received_time: Gauge
    server_lsn: Gauge
    archive_lag: Gauge
    slot_lag: Gauge
    up: Gauge
    restarts: Counter
    syncs: Counter

    def stored(self, slot: str, lsn: int, at: float) -> None:
        self.received_lsn.labels(slot).set(lsn)
        self.received_time.labels(slot).set(at)

    def server(self, slot: str, current_lsn: int, restart_lsn: int | None, received_lsn: int | None) -> None:
        self.server_lsn.labels(slot).set(current_lsn)
        if restart_lsn is not None:
            self.slot_lag.labels(slot).set(max(0, current_lsn - restart_lsn))
        if received_lsn is not None:
            self.archive_lag.labels(slot).set(max(0, current_lsn - received_lsn))


def new_receive_metrics(slot: str) -> ReceiveMetrics:
    reg = CollectorRegistry()
    labels = [SLOT_LABEL]
    metrics = ReceiveMetrics(
        reg,
        Gauge(
            "drkit_pg_receive_received_lsn",
            "End of the streamed WAL stored in the repository (LSN as bytes)",
            labels,
            registry=reg,
        ),
        Gauge(
            "drkit_pg_receive_last_received_timestamp_seconds",
            "When streamed WAL last reached the repository (seconds since the epoch)",
            labels,
            registry=reg,
        ),
        Gauge(
            "drkit_pg_receive_server_lsn",
            "The server's current WAL write position (LSN as bytes)",
            labels,
            registry=reg,
        ),
        Gauge(
            "drkit_pg_receive_archive_lag_bytes",
            "WAL the server has written that is not yet in the repository",
            labels,
            registry=reg,
        ),
        Gauge(
            "drkit_pg_receive_slot_lag_bytes",
            "WAL the server keeps for the replication slot (current LSN - restart_lsn)",
            labels,
            registry=reg,
        ),
        Gauge("drkit_pg_receive_up", "1 while pg_receivewal is streaming, else 0", labels, registry=reg),
        Counter("drkit_pg_receive_restarts", "pg_receivewal restarts after it stopped", labels, registry=reg),
        Counter(
            "drkit_pg_receive_syncs", "Syncs of the spool into the repository that succeeded", labels, registry=reg
        ),
    )
    metrics.up.labels(slot).set(0)
    metrics.restarts.labels(slot)
    metrics.syncs.labels(slot)
    return metrics


__all__ = ["SLOT_LABEL", "ReceiveMetrics", "new_receive_metrics"]
