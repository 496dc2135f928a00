"""Prometheus metrics of the WAL receiver (``drkit pg receive``, or the daemon for a job with
``receive``), labelled by ``drkit_job`` (empty for the command) and replication ``slot``.

LSNs are exported as numbers (bytes since the start of WAL): a float holds them exactly up to
2^53 bytes (8 PiB of WAL). The archive lag is the server's write position minus the end of the WAL
in the repository: with the time of the last receipt, what an RPO alert watches. Until a sync stores WAL
(the storage down since the receiver started) the lag counts from the server's position at the receiver's
first read and the time of the last receipt is the receiver's start."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from ...core import clock
from ...core.metricfamilies import LabelledFamilies

LABELS = ("drkit_job", "slot")
_GAUGES = {
    "received_lsn": (
        "drkit_pg_receive_received_lsn",
        "End of the streamed WAL stored in the repository (LSN as bytes)",
    ),
    "received_time": (
        "drkit_pg_receive_last_received_timestamp_seconds",
        "When streamed WAL last reached the repository, or the receiver started while none has (epoch seconds)",
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


@dataclass(frozen=True, kw_only=True)
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
    started: float = field(default_factory=lambda: clock.now())  # the receiver's start (bound once per receiver)
    _archived: dict[str, int] = field(default_factory=dict)  # "lsn": the last known end of the archived WAL

    def stored(self, lsn: int, at: float) -> None:
        self._archived["lsn"] = lsn
        self.received_lsn.set(lsn)
        self.received_time.set(at)

    def server(self, current_lsn: int, restart_lsn: int | None, received_lsn: int | None) -> None:
        self.server_lsn.set(current_lsn)
        if restart_lsn is not None:
            self.slot_lag.set(max(0, current_lsn - restart_lsn))
        if received_lsn is not None:
            self._archived["lsn"] = received_lsn
        elif "lsn" not in self._archived:
            # nothing stored since the receiver started (the storage down from the start): the lag grows from
            # the server's position now and the staleness from the start, so DrkitWalReceiveStale can fire
            self._archived["lsn"] = current_lsn
            self.received_time.set(self.started)
        self.archive_lag.set(max(0, current_lsn - self._archived["lsn"]))


class ReceiveFamilies(LabelledFamilies):
    """The metric families in ``registry``; ``bind`` gives one receiver's samples."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry, LABELS, _GAUGES, _COUNTERS)

    def bind(self, job: str, slot: str) -> ReceiveMetrics:
        bound = ReceiveMetrics(**self.children(job, slot))
        bound.up.set(0)
        return bound


__all__ = ["LABELS", "ReceiveFamilies", "ReceiveMetrics"]
