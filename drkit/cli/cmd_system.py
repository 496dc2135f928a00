"""`drkit system heartbeat NAME` (one instant into every component of a system: what the scheduler runs on
``systems.NAME.heartbeat``) and `drkit system list`."""

from __future__ import annotations

import click

from ..core.timespec import format_time
from ..jobs.system_heartbeat import heartbeat_name, write_system_heartbeat
from .common import load_cli_config
from .epilog import EXIT_CODES_EPILOG
from .output import emit_json


@click.group("system", epilog=EXIT_CODES_EPILOG)
def system() -> None:
    """Systems of drkit.yaml: jobs restored, drilled and measured together (docs/systems.md)."""


@system.command("heartbeat", epilog=EXIT_CODES_EPILOG)
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def heartbeat(ctx: click.Context, name: str, as_json: bool) -> None:
    """Write one heartbeat instant into every component of system NAME in one step: a row in PostgreSQL
    (drkit_canary), a key in Redis (drkit:canary:system:NAME), a file in the tree (.drkit-canary-system:NAME).
    A restored system's verified recovery point is the newest heartbeat all its components hold. Exit 1,
    naming the component, when one cannot be written (the others are)."""
    cfg = load_cli_config(ctx)
    at = write_system_heartbeat(cfg, name)
    if as_json:
        emit_json(
            {"system": name, "at": format_time(at), "canary": heartbeat_name(name), "jobs": cfg.system(name).jobs}
        )
        return
    click.echo(f"heartbeat {format_time(at)} written to {', '.join(cfg.system(name).jobs)}")


@system.command("list", epilog=EXIT_CODES_EPILOG)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print [{"name", "jobs", "rpo_s", "rto_s", "max_skew_s", "heartbeat"}] (heartbeat: its cron '
    "schedule, or null).",
)
@click.pass_context
def list_systems(ctx: click.Context, as_json: bool) -> None:
    """The configured systems, their jobs, targets and heartbeat schedule."""
    cfg = load_cli_config(ctx)
    if as_json:
        emit_json(
            [
                {
                    "name": name,
                    "jobs": list(s.jobs),
                    "rpo_s": s.targets.rpo,
                    "rto_s": s.targets.rto,
                    "max_skew_s": s.max_skew,
                    "heartbeat": s.heartbeat or None,
                }
                for name, s in sorted(cfg.systems.items())
            ]
        )
        return
    for name, s in sorted(cfg.systems.items()):
        click.echo(
            f"{name}\t{','.join(s.jobs)}\trpo={s.targets.rpo:g}s rto={s.targets.rto:g}s "
            f"max_skew={s.max_skew:g}s\theartbeat={s.heartbeat or '-'}"
        )
