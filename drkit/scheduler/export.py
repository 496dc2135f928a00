"""Metrics of a one-shot run (``drkit job run`` or ``drkit job maintain`` from cron or a Kubernetes
CronJob), where no daemon is there to be scraped: a node-exporter textfile, written atomically,
and/or a Pushgateway push.

They are exported after the run whether it succeeded or failed; after a failure
(``drkit_backup_failures_total`` 1) an export error is only logged, so the run's own error -- and
its exit code -- is what the caller sees.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry

from ..config import DrkitConfig
from ..core import clock
from ..core.errors import DrkitError
from ..core.metrics import Metrics, new_registry, push, write_textfile
from .maintenance import Maintainer, MaintenanceState
from .startup import register_task, restore_job_window

log = logging.getLogger("drkit.metrics")


@dataclass(frozen=True)
class ExportTargets:
    prom_file: Path | None = None
    pushgateway: str | None = None

    def __bool__(self) -> bool:
        return self.prom_file is not None or bool(self.pushgateway)


def _export(registry: CollectorRegistry, group: str, targets: ExportTargets, job: str = "drkit_backup") -> None:
    if targets.prom_file is not None:
        write_textfile(registry, targets.prom_file)
    if targets.pushgateway:
        push(registry, targets.pushgateway, group=group, job=job)


@contextmanager
def exported_metrics(config: DrkitConfig, job: str, targets: ExportTargets) -> Iterator[Metrics]:
    """Metrics for one run of ``job``, exported to ``targets`` when the block ends (also on error)."""
    registry, metrics = new_registry()
    spec = config.job(job)
    metrics.register_job(job, rpo=spec.targets.rpo, rto=spec.targets.rto)
    try:
        yield metrics
    except BaseException as exc:
        if isinstance(exc, Exception):  # not on Ctrl-C or SIGTERM: no repository read on the way out
            restore_job_window(config, job, metrics)
        try:
            _export(registry, job, targets)
        except DrkitError as exc:
            log.warning("metrics not exported: %s", exc.message, extra={"job": job})
        raise
    _export(registry, job, targets)


def maintain_once(
    config: DrkitConfig, repository: str, task: str, state_dir: Path, targets: ExportTargets
) -> dict[str, object]:
    """One prune, check or copy of ``repository`` as the daemon runs it (config settings, the check
    rotation counter in ``state_dir``), its metrics exported to ``targets`` also when it fails
    (Pushgateway group ``drkit_job=<repository>-<task>``, job ``drkit_maintenance``)."""
    registry, metrics = new_registry()
    group = f"{repository}-{task}"
    state = MaintenanceState(state_dir)
    register_task(config, metrics, state, repository, task, clock.utcnow())  # what the alerts compare with
    try:
        done = Maintainer(config, metrics, state).run(repository, task)
    except BaseException:
        try:
            _export(registry, group, targets, job="drkit_maintenance")
        except DrkitError as exc:
            log.warning("metrics not exported: %s", exc.message, extra={"repository": repository})
        raise
    _export(registry, group, targets, job="drkit_maintenance")
    return done


__all__ = ["ExportTargets", "exported_metrics", "maintain_once"]
