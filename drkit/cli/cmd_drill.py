"""`drkit drill` (restore into a throwaway instance, verify, measure RPO/RTO) and `drkit report`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..core.errors import UsageError
from ..drills.reports import human_seconds, percentile, print_report
from ..drills.result import DrillResult
from ..drills.session import ReportTargets, history_html, job_names, run_drills, write_reports
from ..drills.targets import exit_code_for
from ..scheduler import default_state_dir
from ..scheduler.maintenance import maintenance_records, maintenance_summary
from .common import load_cli_config
from .output import emit_json
from .params import TIME, TIME_HELP, DurationParam

if TYPE_CHECKING:
    from ..config import DrkitConfig


@click.command("drill")
@click.argument("jobs", nargs=-1)
@click.option("--all", "all_jobs", is_flag=True, help="Drill every job of the config.")
@click.option(
    "--system",
    "system",
    default=None,
    metavar="NAME",
    help="Drill every component of a system at once "
    "and judge the system: its components, its heartbeat, its targets (docs/systems.md).",
)
@click.option(
    "--allow-skew",
    type=DurationParam(),
    default=None,
    metavar="DURATION",
    help="With --system and --point-in-time: how far before TIME a component may stay (default: the "
    "system's max_skew).",
)
@click.option("--snapshot", default=None, help="Restore this snapshot (default: the job's latest).")
@click.option("--point-in-time", type=TIME, default=None, help="Restore the state at TIME. " + TIME_HELP)
@click.option(
    "--sandbox",
    type=click.Choice(["auto", "docker", "local"]),
    default="auto",
    show_default=True,
    help="auto: a container when a Docker engine is reachable, else local processes (files and "
    "PostgreSQL point-in-time drills stay local unless docker is asked for).",
)
@click.option("--json", "json_file", default=None, metavar="FILE", help="Write the JSON report (- for stdout).")
@click.option("--junit", default=None, metavar="FILE", help="Write JUnit XML: a testcase per check and target.")
@click.option("--prom-file", default=None, metavar="FILE", help="Write metrics in node_exporter textfile format.")
@click.option("--pushgateway", default=None, metavar="URL", help="Push the metrics to a Prometheus Pushgateway.")
@click.pass_context
def drill(  # noqa: PLR0913
    ctx: click.Context,
    jobs: tuple[str, ...],
    all_jobs: bool,
    system: str | None,
    allow_skew: float | None,
    snapshot: str | None,
    point_in_time: str | None,
    sandbox: str,
    json_file: str | None,
    junit: str | None,
    prom_file: str | None,
    pushgateway: str | None,
) -> None:
    """Restore each JOB's backup into a throwaway instance, verify it, and report RPO/RTO against
    the job's targets. Exit 20 when a target is missed, 21 when a check fails, 2 when the sandbox
    cannot be had (--sandbox docker without a reachable engine, an image the engine does not have and
    cannot pull), 130 on Ctrl-C; sandbox containers and their volumes are removed in every case.

    A point-in-time drill restores whatever `drkit restore --point-in-time` would (any base backup, a
    Redis AOF archive); what it cannot verify there (no facts for a backup no job run took, no canary
    before the job's first run) is listed as not verified in the report, not failed. See docs/drills.md.

    With --system NAME every component of the system is drilled at once, each in its own sandbox; the reports
    then hold the system's result first (a check per component, the cross-component heartbeat, the system's
    targets), then each component's. See docs/systems.md."""
    cfg = load_cli_config(ctx)
    if system is not None:
        results = _system_drill(cfg, system, jobs, all_jobs, snapshot, sandbox, point_in_time, allow_skew)
    else:
        results = run_drills(
            cfg, job_names(cfg, list(jobs), all_jobs), sandbox=sandbox, snapshot=snapshot, point_in_time=point_in_time
        )
    write_reports(results, ReportTargets(json_file, junit, prom_file, pushgateway))
    if json_file != "-":
        print_report(results)
    code = exit_code_for(results)
    if code:
        sys.exit(code)


def _system_drill(  # noqa: PLR0913
    cfg: DrkitConfig,
    system: str,
    jobs: tuple[str, ...],
    all_jobs: bool,
    snapshot: str | None,
    sandbox: str,
    point_in_time: str | None,
    allow_skew: float | None,
) -> list[DrillResult]:
    if jobs or all_jobs or snapshot:
        raise UsageError("--system drills the system's own jobs: give no JOB, --all or --snapshot with it")
    cfg.system(system)  # unknown → one line, exit 2, before any drill starts
    from ..drills.system import run_system_drill  # psycopg and redis (extras): only when a system is drilled

    return run_system_drill(cfg, system, sandbox=sandbox, point_in_time=point_in_time, allow_skew=allow_skew)


def _job_doc(name: str, results: list[DrillResult]) -> dict[str, Any]:
    rtos = [r.rto_seconds for r in results]
    return {
        "job": name,
        "drills": len(results),
        "passed": sum(r.success for r in results),
        "rto_p50_s": percentile(rtos, 50),
        "rto_p95_s": percentile(rtos, 95),
        "results": [{"id": r.id, **r.to_doc()} for r in results],
    }


@click.command("report")
@click.argument("jobs", nargs=-1)
@click.option("--last", default=30, show_default=True, help="Drills per job.")
@click.option(
    "--html",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write one self-contained HTML report with charts.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The scheduler's state directory, for the last prune, check and copy of each repository "
    "(default: as `drkit schedule run`).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print {"jobs": [{"job", "drills", "passed", "rto_p50_s", '
    '"rto_p95_s", "results": [drill result]}], "maintenance": [{"repository", "task", "schedule", '
    '"last_success", "last_failure", "check_result"}]} (times: epoch seconds or null).',
)
@click.pass_context
def report(
    ctx: click.Context,
    jobs: tuple[str, ...],
    last: int,
    html: Path | None,  # noqa: PLR0913
    state_dir: Path | None,
    as_json: bool,
) -> None:
    """Drill history per job: last N drills, RTO p50/p95, latest RPOs; then the scheduled maintenance
    of each repository (last prune, check and copy, as the daemon recorded them)."""
    cfg = load_cli_config(ctx)
    history = history_html(cfg, list(jobs) or sorted({*cfg.jobs, *cfg.systems}), last, html)
    if as_json:
        emit_json(
            {
                "jobs": [_job_doc(name, results) for name, results in sorted(history.items())],
                "maintenance": maintenance_records(cfg, state_dir or default_state_dir()),
            }
        )
        return
    for name, results in sorted(history.items()):
        passed = sum(r.success for r in results)
        rtos = [r.rto_seconds for r in results]
        click.echo(
            f"{name}: {len(results)} drills, {passed} passed, RTO p50 {human_seconds(percentile(rtos, 50))} "
            f"p95 {human_seconds(percentile(rtos, 95))}"
        )
    for line in maintenance_summary(cfg, state_dir or default_state_dir()):
        click.echo(line)
    if html is not None:
        click.echo(f"wrote {html}")
