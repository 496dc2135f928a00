"""`drkit job run NAME` (one backup of a configured job: what a CronJob runs), `drkit job maintain
REPOSITORY TASK` (one configured prune, check or copy) and `drkit job list`."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from ..core.errors import PartialBackup, UsageError
from ..jobs import run_backup_job
from ..jobs.notify import RunEvent, failed, notify
from ..scheduler import backup_with_metrics, default_state_dir, heartbeat_with_metrics
from ..scheduler.export import ExportTargets, exported_metrics, maintain_once
from .common import load_cli_config
from .output import emit_json


@click.group("job")
def job() -> None:
    """Run the jobs of drkit.yaml once (the scheduler runs them on their schedules)."""


@job.command("run")
@click.argument("name")
@click.option("--heartbeat", is_flag=True, help="Write only the job's canary (no backup).")
@click.option(
    "--prom-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write this run's metrics to a node-exporter textfile (name it *.prom), atomically.",
)
@click.option(
    "--pushgateway",
    metavar="URL",
    default=None,
    help="Also push this run's metrics to a Pushgateway (group drkit_job=NAME; Basic auth: "
    "user@ in the URL, the password in DRKIT_PUSHGATEWAY_PASSWORD).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the outcome as JSON; retention_applied is false when the retention step was skipped "
    "(repository busy or locked: the next run applies it), null without retention.",
)
@click.pass_context
def run(
    ctx: click.Context, name: str, heartbeat: bool, prom_file: Path | None, pushgateway: str | None, as_json: bool
) -> None:
    """Back up job NAME: canary, facts, backup, retention. Exit 3 when the backup skipped or half-read entries
    (the snapshot is written, but partial), as `backup files`. The config's `notify:` (a webhook, a
    healthchecks.io ping URL) hears of the outcome; a notification that cannot be sent is only a warning."""
    cfg = load_cli_config(ctx)
    cfg.job(name)  # an unknown name is a usage error before anything runs
    targets = ExportTargets(prom_file, pushgateway)
    if heartbeat:
        with exported_metrics(cfg, name, targets) as metrics:
            heartbeat_with_metrics(cfg, name, metrics)
        click.echo(f"canary written for {name}")
        return
    try:
        if targets:
            with exported_metrics(cfg, name, targets) as metrics:
                outcome = backup_with_metrics(cfg, name, metrics)
        else:
            outcome = run_backup_job(cfg, name)
    except Exception as exc:
        notify(cfg, RunEvent(name=name, kind="backup", outcome="failure", error=failed(exc)))
        raise
    notify(
        cfg,
        RunEvent(
            name=name,
            kind="backup",
            outcome="partial" if outcome.skipped else "success",
            error=None,
            details={
                "snapshot_id": outcome.snapshot_id,
                "skipped": outcome.skipped,
                "duration_s": round(outcome.seconds, 3),
            },
        ),
    )
    if as_json:
        emit_json(asdict(outcome))
    else:
        for warning in outcome.warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(
            f"job {name}: snapshot {outcome.snapshot_id[:8]} ({outcome.kind}) in {outcome.seconds:.1f}s, "
            f"{outcome.bytes_added} bytes added, {outcome.forgotten} snapshots forgotten"
        )
    if outcome.skipped:  # as `backup files`: the snapshot is written, but it is not the whole source
        raise PartialBackup(
            f"job {name}: snapshot {outcome.snapshot_id[:8]} written, but {outcome.skipped} entries "
            "were skipped or changed while read",
            hint="see the warnings above",
        )


@job.command("maintain")
@click.argument("repository")
@click.argument("task", type=click.Choice(["prune", "check", "copy"]))
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where maintenance.json keeps the last results and the check rotation (default: as "
    "`drkit schedule run`); keep it between runs, or the rotation starts again at group 1.",
)
@click.option(
    "--prom-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the run's metrics to a node-exporter textfile (name it *.prom), atomically.",
)
@click.option(
    "--pushgateway",
    metavar="URL",
    default=None,
    help="Also push the run's metrics to a Pushgateway (group drkit_job=REPOSITORY-TASK).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def maintain(  # noqa: PLR0913
    ctx: click.Context,
    repository: str,
    task: str,
    state_dir: Path | None,
    prom_file: Path | None,
    pushgateway: str | None,
    as_json: bool,
) -> None:
    """Run REPOSITORY's configured prune, check or copy once, as the daemon does (a CronJob's command):
    its settings from drkit.yaml, a check's rotating read-data group, the same metrics; exit 13 when a
    check finds damage."""
    cfg = load_cli_config(ctx)
    spec = cfg.repositories.get(repository)
    if spec is None or getattr(spec, "copy_to" if task == "copy" else task) is None:
        raise UsageError(
            f"repository {repository!r} has no {task} in the config",
            hint=f"add repositories.{repository}.{task} with a schedule to drkit.yaml",
        )
    done = maintain_once(cfg, repository, task, state_dir or default_state_dir(), ExportTargets(prom_file, pushgateway))
    if as_json:
        emit_json({"repository": repository, "task": task, **done})
        return
    click.echo(f"{task} of {repository}: " + ", ".join(f"{k} {v}" for k, v in done.items()))


@job.command("list")
@click.option("--json", "as_json", is_flag=True, help='Print [{"name", "kind", "schedule", "rpo_s", "rto_s"}].')
@click.pass_context
def list_jobs(ctx: click.Context, as_json: bool) -> None:
    """The configured jobs, their source kind, schedule and targets."""
    cfg = load_cli_config(ctx)
    if as_json:
        emit_json(
            [
                {
                    "name": n,
                    "kind": j.source.kind,
                    "schedule": j.schedule,
                    "rpo_s": j.targets.rpo,
                    "rto_s": j.targets.rto,
                }
                for n, j in sorted(cfg.jobs.items())
            ]
        )
        return
    for name, j in sorted(cfg.jobs.items()):
        click.echo(f"{name}\t{j.source.kind}\t{j.schedule or '-'}\trpo={j.targets.rpo:g}s rto={j.targets.rto:g}s")
