"""Prometheus metrics of the WAL receiver (``drkit pg receive``, or the daemon for a job with
``receive``), labelled by ``drkit_job`` (empty for the command) and replication ``slot``.

LSNs are exported as numbers (bytes since the start of WAL): a float holds them exactly up to
2^53 bytes (8 PiB of WAL). The archive lag is the server's write position minus the end of the WAL
in the repository: with the time of the last receipt, what an RPO alert watches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

LABELS = ("drkit_job", "slot")
_GAUGES = {
    "received_lsn": (
        "drkit_pg_receive_received_lsn",
        "End of the streamed WAL stored in the repository (LSN as bytes)",
    ),
    "received_time": (
        "drkit_pg_receive_last_received_timestamp_seconds",
        "When streamed WAL last reached the repository (seconds since the epoch)",
    ),
    "server_lsn": ("drkit_pg_receive_server_lsn", "The server's current WAL write position (LSN as bytes)"),
    "archive_lag": (
        "drkit_pg_receive_archive_lag_bytes",
        "WAL the server has written that is not yet in the repository",
    ),
    "slot_lag": (
        "drkit_pg_receive_slot_lag_bytes",
        "WAL the server keeps for the replication slot (current LSN - restart_lsn)",
    ),
    "up": ("drkit_pg_receive_up", "1 while pg_receivewal is streaming, else 0"),
}
_COUNTERS = {
    "restarts": ("drkit_pg_receive_restarts", "pg_receivewal restarts after it stopped"),
    "syncs": ("drkit_pg_receive_syncs", "Syncs of the spool into the repository that succeeded"),
}


@dataclass(frozen=True)
class ReceiveMetrics:
    """One receiver's samples (the metric families' children for its job and slot)."""

    received_lsn: Any
    received_time: Any
    server_lsn: Any
    archive_lag: Any
    slot_lag: Any
    up: Any
    restarts: Any
    syncs: Any

    def stored(self, lsn: int, at: float) -> None:
        self.received_lsn.set(lsn)
        self.received_time.set(at)

    def server(self, current_lsn: int, restart_lsn: int | None, received_lsn: int | None) -> None:
        self.server_lsn.set(current_lsn)
        if restart_lsn is not None:
            self.slot_lag.set(max(0, current_lsn - restart_lsn))
        if received_lsn is not None:
            self.archive_lag.set(max(0, current_lsn - received_lsn))


class ReceiveFamilies:
    """The metric families in ``registry``; ``bind`` gives one receiver's samples."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._families: dict[str, Gauge | Counter] = {
            key: Gauge(name, text, LABELS, registry=registry) for key, (name, text) in _GAUGES.items()
        }
        self._families.update(
            {key: Counter(name, text, LABELS, registry=registry) for key, (name, text) in _COUNTERS.items()}
        )

    def bind(self, job: str, slot: str) -> ReceiveMetrics:
        bound = ReceiveMetrics(**{key: family.labels(job, slot) for key, family in self._families.items()})
        bound.up.set(0)
        return bound


__all__ = ["LABELS", "ReceiveFamilies", "ReceiveMetrics"]
