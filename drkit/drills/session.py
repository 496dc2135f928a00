"""Drills for the CLI and the scheduler: one job, several, or ``--all``; then every report from
the same results, and the exit code (0, 20 target missed, 21 check failed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import DrkitConfig
from ..core import clock
from ..core.errors import UsageError
from ..jobs import open_job_repository
from .history import load_history
from .reports import push_to_gateway, render_html, write_json, write_junit, write_prom_file
from .result import DrillResult
from .runner import run_drill


@dataclass(frozen=True)
class ReportTargets:
    json: str | None = None
    junit: str | None = None
    prom_file: str | None = None
    pushgateway: str | None = None


def job_names(config: DrkitConfig, names: list[str], all_jobs: bool) -> list[str]:
    if all_jobs == bool(names):
        raise UsageError("name a JOB or pass --all (not both)")
    chosen = sorted(config.jobs) if all_jobs else names
    for name in chosen:
        config.job(name)  # unknown → one-line usage error before any drill starts
    if not chosen:
        raise UsageError("the config has no jobs")
    return chosen


def run_drills(
    config: DrkitConfig,
    names: list[str],
    *,
    sandbox: str,
    snapshot: str | None = None,
    point_in_time: str | None = None,
) -> list[DrillResult]:
    return [run_drill(config, n, sandbox=sandbox, snapshot=snapshot, point_in_time=point_in_time) for n in names]


def write_reports(results: list[DrillResult], out: ReportTargets) -> None:
    """Every requested report; the Pushgateway last (a network error must not cost the files)."""
    if out.json:
        write_json(results, out.json)
    if out.junit:
        write_junit(results, out.junit)
    if out.prom_file:
        write_prom_file(results, out.prom_file)
    if out.pushgateway:
        push_to_gateway(results, out.pushgateway)


def history_html(config: DrkitConfig, names: list[str], last: int, html: Path | None) -> dict[str, list[DrillResult]]:
    """Drill history per job (or system: from its first job's repository) from each job's repository; the HTML
    report written when asked."""
    history: dict[str, list[DrillResult]] = {}
    for name in names:
        owner = config.systems[name].jobs[0] if name in config.systems and name not in config.jobs else name
        repo, _ = open_job_repository(config, config.job(owner), load_index=False)
        try:
            history.update(load_history(repo.manifests, name, last))
        finally:
            repo.close()
    if html is not None:
        html.write_text(render_html(history, generated_at=clock.utcnow().isoformat(timespec="seconds")))
    return history
