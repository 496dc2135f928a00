"""`drkit schedule run` (the daemon: jobs on their schedules, /healthz /readyz /metrics) and
`drkit schedule list` (when each job's backup, drill and heartbeat run next)."""

from __future__ import annotations

from pathlib import Path

import click

from ..core import clock
from ..scheduler import DaemonOptions, next_runs, run_daemon
from .common import load_cli_config
from .output import emit_json


@click.group("schedule")
def schedule() -> None:
    """Run the jobs of drkit.yaml on their schedules."""


@schedule.command("run")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where last_run.json lives (default: $XDG_STATE_HOME/drkit or ~/.local/state/drkit).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="HTTP port for /healthz, /readyz, /metrics (default: http.port; 0 picks a free one).",
)
@click.pass_context
def run(ctx: click.Context, state_dir: Path | None, port: int | None) -> None:
    """Run as a daemon until SIGTERM: backups, drills and heartbeats on their cron schedules."""
    cfg = load_cli_config(ctx)

    def listening(host: str, bound: int) -> None:
        click.echo(f"listening on http://{host}:{bound}", err=True)

    code = run_daemon(cfg, DaemonOptions(state_dir=state_dir, port=port), on_listening=listening)
    ctx.exit(code)


@schedule.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_schedule(ctx: click.Context, as_json: bool) -> None:
    """Each job's next backup, drill and heartbeat (UTC, without jitter)."""
    planned = next_runs(load_cli_config(ctx), clock.utcnow())
    rows = [
        {
            "job": p.job,
            "kind": p.kind,
            "schedule": p.cron,
            "next_run": p.at.isoformat().replace("+00:00", "Z") if p.at else None,
        }
        for p in planned
    ]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no job has a schedule", err=True)
    for row in rows:
        click.echo(f"{row['job']}\t{row['kind']}\t{row['schedule']}\t{row['next_run'] or 'never'}")
