"""Drill results as Prometheus metrics: a registry, a node-exporter textfile, or a Pushgateway push.

Every metric carries the label ``drkit_job`` (``job`` is Prometheus's own). When ``results`` hold
several drills of one job, the last one sets that job's gauges; the last-success timestamp is the
newest successful drill's.

A push goes to one Pushgateway group per drill job (grouping key ``drkit_job``) with POST, which
replaces only the metrics pushed: drills of other jobs stay, and a failed drill, which pushes no
last-success timestamp, leaves the previous success's timestamp in place for staleness alerts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge

from ...core import clock
from ...core.metrics import DRILL_HELP, JOB_LABEL, PUSH_TIMEOUT_SECONDS, push, write_textfile
from ..result import DrillResult


@dataclass(frozen=True, kw_only=True)
class _Gauges:
    success: Gauge
    rpo: Gauge
    rto: Gauge
    rpo_target: Gauge
    rto_target: Gauge
    last_success: Gauge
    phase: Gauge
    check: Gauge


def _gauges(registry: CollectorRegistry) -> _Gauges:
    def gauge(name: str, doc: str, *labels: str) -> Gauge:
        return Gauge(name, doc, [JOB_LABEL, *labels], registry=registry)

    return _Gauges(
        success=gauge("drkit_drill_success", DRILL_HELP["drkit_drill_success"]),
        rpo=gauge("drkit_rpo_seconds", DRILL_HELP["drkit_rpo_seconds"], "kind"),
        rto=gauge("drkit_rto_seconds", DRILL_HELP["drkit_rto_seconds"]),
        rpo_target=gauge("drkit_rpo_target_seconds", DRILL_HELP["drkit_rpo_target_seconds"]),
        rto_target=gauge("drkit_rto_target_seconds", DRILL_HELP["drkit_rto_target_seconds"]),
        last_success=gauge(
            "drkit_drill_last_success_timestamp_seconds", DRILL_HELP["drkit_drill_last_success_timestamp_seconds"]
        ),
        phase=gauge("drkit_drill_phase_seconds", "Time each phase of the last drill took", "phase"),
        check=gauge("drkit_drill_check_success", "1 if the check passed in the last drill, else 0", "check"),
    )


def _finished_at(result: DrillResult) -> float:
    started = result.started_timestamp
    if started is None or result.rto_seconds is None:
        return clock.now()
    return started + result.rto_seconds


def _observe(g: _Gauges, r: DrillResult) -> None:
    g.success.labels(r.job).set(1 if r.success else 0)
    for kind, value in (("catalog", r.rpo_catalog_seconds), ("verified", r.rpo_verified_seconds)):
        if value is not None:
            g.rpo.labels(r.job, kind).set(value)
    if r.rto_seconds is not None:
        g.rto.labels(r.job).set(r.rto_seconds)
    for target, gauge in (("rpo", g.rpo_target), ("rto", g.rto_target)):
        found = r.target(target)
        if found is not None:
            gauge.labels(r.job).set(found.target_seconds)
    for phase, seconds in r.phases.items():
        g.phase.labels(r.job, phase).set(seconds)
    for check in r.checks:
        g.check.labels(r.job, check.name).set(1 if check.ok else 0)


def drill_registry(results: list[DrillResult]) -> CollectorRegistry:
    """A fresh registry holding the drill gauges for ``results``."""
    registry = CollectorRegistry()
    gauges = _gauges(registry)
    last_success: dict[str, float] = {}
    for result in results:
        _observe(gauges, result)
        if result.success:
            last_success[result.job] = max(last_success.get(result.job, 0.0), _finished_at(result))
    for job, timestamp in last_success.items():
        gauges.last_success.labels(job).set(timestamp)
    return registry


def write_prom_file(results: list[DrillResult], path: Path | str) -> None:
    """Write the metrics atomically for node-exporter's textfile collector (``path`` must end in .prom
    for the collector to read it)."""
    write_textfile(drill_registry(results), path)


def push_to_gateway(
    results: list[DrillResult], url: str, job: str = "drkit_drill", *, timeout: float = PUSH_TIMEOUT_SECONDS
) -> None:
    """Push the metrics of ``results`` to the Pushgateway at ``url``, one group per drill job (Basic auth
    as for ``push``; nothing is pushed without results). Raises DrkitError, naming the
    URL without credentials, when a push fails."""
    by_job: dict[str, list[DrillResult]] = {}
    for result in results:
        by_job.setdefault(result.job, []).append(result)
    for drill_job, drills in by_job.items():
        push(drill_registry(drills), url, group=drill_job, job=job, timeout=timeout)


__all__ = ["PUSH_TIMEOUT_SECONDS", "drill_registry", "push_to_gateway", "write_prom_file"]
