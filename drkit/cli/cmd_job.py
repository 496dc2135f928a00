"""`drkit job run NAME` (one backup of a configured job: what a CronJob runs) and `drkit job list`."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from ..jobs import run_backup_job
from ..scheduler import backup_with_metrics, heartbeat_with_metrics
from ..scheduler.export import ExportTargets, exported_metrics
from .common import load_cli_config
from .output import emit_json


@click.group("job")
def job() -> None:
    """Run the jobs of drkit.yaml once (the scheduler runs them on their schedules)."""


@job.command("run")
@click.argument("name")
@click.option("--heartbeat", is_flag=True, help="Write only the job's canary (no backup).")
@click.option("--prom-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write this run's metrics to a node-exporter textfile (name it *.prom), atomically.")
@click.option("--pushgateway", metavar="URL", default=None,
              help="Also push this run's metrics to a Pushgateway (group drkit_job=NAME; Basic auth: "
                   "user@ in the URL, the password in DRKIT_PUSHGATEWAY_PASSWORD).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def run(ctx: click.Context, name: str, heartbeat: bool, prom_file: Path | None, pushgateway: str | None,
        as_json: bool) -> None:
    """Back up job NAME: canary, facts, backup, retention."""
    cfg = load_cli_config(ctx)
    cfg.job(name)  # an unknown name is a usage error before anything runs
    targets = ExportTargets(prom_file, pushgateway)
    if heartbeat:
        with exported_metrics(cfg, name, targets) as metrics:
            heartbeat_with_metrics(cfg, name, metrics)
        click.echo(f"canary written for {name}")
        return
    if targets:
        with exported_metrics(cfg, name, targets) as metrics:
            outcome = backup_with_metrics(cfg, name, metrics)
    else:
        outcome = run_backup_job(cfg, name)
    if as_json:
        emit_json(asdict(outcome))
        return
    for warning in outcome.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"job {name}: snapshot {outcome.snapshot_id[:8]} ({outcome.kind}) in {outcome.seconds:.1f}s, "
               f"{outcome.bytes_added} bytes added, {outcome.forgotten} snapshots forgotten")


@job.command("list")
@click.pass_context
def list_jobs(ctx: click.Context) -> None:
    """The configured jobs, their source kind, schedule and targets."""
    cfg = load_cli_config(ctx)
    for name, j in sorted(cfg.jobs.items()):
        click.echo(f"{name}\t{j.source.kind}\t{j.schedule or '-'}\trpo={j.targets.rpo:g}s rto={j.targets.rto:g}s")
