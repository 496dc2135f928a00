"""`drkit restore --system NAME --point-in-time T --target-dir DIR` (and `--all`): every component of
a system of drkit.yaml restored to one point in time, each into DIR/<job> (with --all:
DIR/<system>/<job>), and the point each one reached."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from ..core.errors import DrkitError, UsageError
from ..core.log import redact
from ..jobs.system_restore import (
    ComponentResult,
    SystemRequest,
    SystemRestore,
    exit_code,
    prepare_system,
    restore_prepared,
)
from .common import load_cli_config, skip_damaged_option
from .epilog import EXIT_CODES_EPILOG
from .output import emit_json
from .params import TIME, TIME_HELP, DurationParam


@click.command("system", hidden=True, epilog=EXIT_CODES_EPILOG)
@click.option("--system", "system_name", default=None, metavar="NAME", help="A system of drkit.yaml (`systems:`).")
@click.option("--all", "all_systems", is_flag=True, help="Every system of drkit.yaml, each into DIR/<system>.")
@click.option("--point-in-time", type=TIME, required=True, help="Restore every component to TIME. " + TIME_HELP)
@click.option(
    "--target-dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Each component goes into DIR/<job>: a PostgreSQL data directory, a Redis directory, a file tree.",
)
@click.option(
    "--into",
    "into",
    multiple=True,
    metavar="JOB=TARGET",
    help="Restore JOB elsewhere than DIR/<job>: another directory or, for a Redis job, a running (empty) server's "
    "redis:// URL (its password from DRKIT_REDIS_PASSWORD). Repeatable.",
)
@click.option(
    "--allow-skew",
    type=DurationParam(),
    default=None,
    metavar="DURATION",
    help="How far before TIME a component may stay (default: the system's max_skew, 1s).",
)
@click.option(
    "--start",
    is_flag=True,
    help="Start PostgreSQL (replaying WAL to TIME) and Redis on the result; "
    "their ports are reported, and they are left running.",
)
@click.option(
    "--os-user",
    default=None,
    help="Own and run the PostgreSQL data directory as this user (default as root: postgres).",
)
@click.option("--json", "as_json", is_flag=True)
@skip_damaged_option
@click.pass_context
def restore_system(  # noqa: PLR0913
    ctx: click.Context,
    system_name: str | None,
    all_systems: bool,
    point_in_time: str,
    target_dir: Path,
    into: tuple[str, ...],
    allow_skew: float | None,
    start: bool,
    os_user: str | None,
    as_json: bool,
    skip_damaged: bool,
) -> None:
    """Restore every component of a system to one point in time: PostgreSQL by WAL replay, Redis by its AOF
    (cut at the whole second before TIME: AOF times have one-second resolution), files from the newest snapshot
    that ended at or before TIME; in parallel, each into its own directory.

    The result gives, per component, the point its data is of and how far before TIME that is, and the skew
    between components. When a component cannot get within the allowed skew of TIME, nothing is restored and
    the command exits 15 (see docs/systems.md).

    A component that fails does not stop the others; every outcome is reported, and the command exits with the
    most severe component code: 13 (damaged data) if any, else 14 (storage), else the first failed component's
    own code, else 3 when a component was restored only partly (e.g. from a files backup that skipped entries).
    The error line names the directories written and the servers left running: a rerun refuses those
    directories until they are removed."""
    cfg = load_cli_config(ctx)
    if all_systems == (system_name is not None):
        raise UsageError("give --system NAME or --all (not both)")
    names = sorted(cfg.systems) if all_systems else [str(system_name)]
    if not names:
        raise UsageError("the config has no systems", hint="define them under `systems:` (docs/systems.md)")
    if into and all_systems:
        raise UsageError("--into names one system's jobs: use it with --system NAME")
    targets = _into(into)
    base = SystemRequest(
        point_in_time=point_in_time,
        target_dir=target_dir,
        allow_skew=allow_skew,
        start=start,
        os_user=os_user,
        into=targets,
        skip_damaged=skip_damaged,
    )
    # every system planned and checked (skew, targets) before the first byte of any is written
    prepared = [
        prepare_system(cfg, name, replace(base, target_dir=target_dir / name) if all_systems else base)
        for name in names
    ]
    results = [restore_prepared(cfg, p) for p in prepared]
    if as_json:
        emit_json([r.to_doc() for r in results] if all_systems else results[0].to_doc())
    else:
        for result in results:
            _print(result)
    _raise_if_failed([c for r in results for c in r.components])


def _raise_if_failed(components: list[ComponentResult]) -> None:
    code = exit_code(components)
    if not code:
        return
    failed = ", ".join(f"{c.job} (exit {c.exit_code})" for c in components if c.exit_code)
    written = [c.target for c in components if "://" not in c.target and Path(c.target).exists()]
    running = [f"{c.job} (port {c.port}" + (f", pid {c.pid})" if c.pid else ")") for c in components if c.port]
    err = DrkitError(
        f"{failed} not restored whole; directories written: {', '.join(written) or 'none'}"
        + (f"; servers left running: {', '.join(running)}" if running else ""),
        hint="see each component's error above; a rerun refuses these directories: remove them (and stop the "
        "servers) first (docs/systems.md)",
    )
    err.exit_code = code
    raise err


def _into(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        job, sep, target = value.partition("=")
        if not sep or not job or not target:
            raise UsageError(
                f"--into {redact(value)!r}: give JOB=TARGET", hint="e.g. --into cache=redis://127.0.0.1:6380"
            )
        pairs.append((job, target))
    if len({job for job, _ in pairs}) != len(pairs):
        raise UsageError("--into names a job twice")
    return tuple(pairs)


def _print(result: SystemRestore) -> None:
    click.echo(
        f"system {result.system} at {result.point_in_time}: components {result.skew_seconds:g} s apart "
        f"(allowed {result.allowed_skew_seconds:g} s before the target)"
    )
    if result.verified_point is not None:
        click.echo(
            f"  verified by the system heartbeat: every component holds {result.verified_point}; their newest "
            f"heartbeats are {result.measured_skew_seconds:g} s apart"
        )
    for c in result.components:
        state = f"error: {c.error}" if c.error else f"-> {c.target}"
        extra = f", port {c.port}" if c.port else ""
        click.echo(f"  {c.job} ({c.kind}): state at {c.point}, {c.skew_seconds:g} s before; {c.how} {state}{extra}")
