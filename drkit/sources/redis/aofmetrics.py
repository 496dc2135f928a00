"""Prometheus metrics of the Redis AOF archivers (the daemon's, for a job with ``source.archive``, or
``drkit redis aof-archive --metrics-port``), labelled by ``drkit_job`` (empty for the command) and the
source ``name``.

``drkit_redis_aof_archive_covered_timestamp_seconds`` is the archive's freshness: every write Redis
made before it is in the repository (the start of the last round that succeeded, less the fsync
slack), advancing each round even when Redis is idle, never in a round a restore's marker held back
(nothing read: ``aof_round.HeldRounds``; ``up`` is 0 then). The same instant feeds
``drkit_archive_newest_timestamp_seconds{kind="aof"}``, which ``DrkitArchiveStale`` compares with
the job's RPO target."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from ...core.metricfamilies import LabelledFamilies

LABELS = ("drkit_job", "name")
_GAUGES = {
    "covered": (
        "drkit_redis_aof_archive_covered_timestamp_seconds",
        "Every write Redis made before this instant is in the repository (seconds since the epoch)",
    ),
    "up": ("drkit_redis_aof_archive_up", "1 while the AOF archiver's rounds succeed, else 0"),
}
_COUNTERS = {
    "rounds": ("drkit_redis_aof_archive_rounds", "Archiving rounds that succeeded"),
    "segments": ("drkit_redis_aof_archive_segments", "AOF segments archived"),
    "bytes": ("drkit_redis_aof_archive_bytes", "AOF bytes archived"),
    "restarts": ("drkit_redis_aof_archive_restarts", "Archiver restarts after a failure"),
}


@dataclass(frozen=True, kw_only=True)
class AofArchiveMetrics:
    """One archiver's samples (the families' children for its job and name)."""

    covered: Any
    up: Any
    rounds: Any
    segments: Any
    bytes: Any
    restarts: Any

    def round(self, covered: float, docs: list[dict[str, Any]]) -> None:
        self.up.set(1)
        self.covered.set(covered)
        self.rounds.inc()
        self.segments.inc(len(docs))
        self.bytes.inc(sum(int(d.get("length", 0)) for d in docs))

    def held(self) -> None:
        """A round a restore held back (nothing read): not up, the freshness left where it was."""
        self.up.set(0)

    def failed(self) -> None:
        self.up.set(0)
        self.restarts.inc()


class AofArchiveFamilies(LabelledFamilies):
    """The metric families in ``registry``; ``bind`` gives one archiver's samples."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry, LABELS, _GAUGES, _COUNTERS)

    def bind(self, job: str, name: str) -> AofArchiveMetrics:
        bound = AofArchiveMetrics(**self.children(job, name))
        bound.up.set(0)
        return bound


__all__ = ["AofArchiveFamilies", "AofArchiveMetrics"]
