"""The `drkit pg` group: `wal-push`, `wal-fetch`, `archive-check`, `windows`, `receive`.

`pg wal-push` and `pg wal-fetch` follow PostgreSQL's archive_command / restore_command
contract: exit 0 only when the file is safely archived (or restored); `wal-fetch` of a file the
archive does not hold exits 1; any other failure exits with its own code (13 damaged, 14 storage).
PostgreSQL retries a failed archive_command, but ends recovery at any restore_command status of 1-125:
the restore_command drkit writes maps every failure but 1 to 255, which stops recovery instead
(``prefetch.spooled_command``; docs/postgres-physical.md)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ...cli.common import RepoRef, with_repo
from ...cli.epilog import EXIT_CODES_EPILOG
from ...cli.output import emit_json
from ...cli.params import DURATION, DURATION_HELP
from ...core.timespec import format_time
from ...ops.session import open_repository
from . import ops
from .cmd import with_conn
from .wal import format_lsn


@click.group("pg", epilog=EXIT_CODES_EPILOG)
def pg() -> None:
    """PostgreSQL WAL archive commands (archive_command / restore_command) and checks."""


@pg.command("wal-push", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
def wal_push(repo_ref: RepoRef, path: Path) -> None:
    """archive_command: `drkit pg wal-push %p`. Re-pushing an identical file succeeds; different
    content under an archived name fails (non-zero, so PostgreSQL keeps the file and retries)."""
    ops.wal_push(repo_ref.url, repo_ref.secret, path)


@pg.command("wal-fetch", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.argument("name")
@click.argument("dest", type=click.Path(path_type=Path, dir_okay=False))
def wal_fetch(repo_ref: RepoRef, name: str, dest: Path) -> None:
    """restore_command: `drkit pg wal-fetch %f %p`. Exit 1 when the archive does not hold NAME.

    PostgreSQL ends recovery at any restore_command status of 1-125, so in a restore_command of your own
    turn every other failure into 255 (recovery then stops with an error instead of ending early):
    `drkit pg wal-fetch %f %p ...; rc=$?; [ $rc -le 1 ] || exit 255; exit $rc`. drkit's restores do."""
    ops.wal_fetch(repo_ref.url, repo_ref.secret, name, dest)


@pg.command("archive-check", epilog=EXIT_CODES_EPILOG)
@with_repo
@with_conn
@click.option(
    "--timeout",
    type=DURATION,
    default="60s",
    show_default=True,
    help="How long to wait for the segment. DURATION: " + DURATION_HELP,
)
@click.option("--json", "as_json", is_flag=True, help='Print {"segment", "archived": true}.')
def archive_check(repo_ref: RepoRef, conn: Any, timeout: float, as_json: bool) -> None:
    """Force pg_switch_wal() and wait until the finished segment is in the repository."""
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    segment = ops.archive_check(repo, conn, timeout)
    if as_json:
        emit_json({"segment": segment, "archived": True})
    else:
        click.echo(f"WAL segment {segment} is archived")


@pg.command("windows", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.option("--json", "as_json", is_flag=True)
def windows(repo_ref: RepoRef, as_json: bool) -> None:
    """Each base backup with its recoverable window: stop LSN → end of the last contiguous archived WAL."""
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    rows = [_window_row(w) for w in ops.windows(repo)]
    if as_json:
        emit_json(rows)
        return
    click.echo(
        f"{'ID':10}{'BACKUP END':28}{'TL':>4}  {'FROM LSN':>14} → {'TO LSN':<14} {'ARCHIVED UNTIL':28}LAST SEGMENT"
    )
    for r in rows:
        click.echo(
            f"{r['snapshot'][:8]:10}{_shown(r['time']):28}{r['timeline']:>4}  {r['from_lsn']:>14} → "
            f"{r['to_lsn'] or 'none (WAL missing)':<14} {_shown(r['archived_until']):28}"
            f"{r['last_segment'] or '-'}"
        )


def _shown(time: str | None) -> str:
    """A time drkit wrote, in the spelling `--point-in-time` takes back (UTC, ``Z``)."""
    return format_time(datetime.fromisoformat(time)) if time else "-"


def _window_row(w: ops.BaseWindow) -> dict[str, Any]:
    meta, end = w.snapshot.meta, w.window.end_lsn
    return {
        "snapshot": w.snapshot.id,
        "time": meta["stop_time"],
        "timeline": meta["timeline"],
        "from_lsn": meta["stop_lsn"],
        "to_lsn": format_lsn(end) if end is not None else None,
        "last_segment": w.window.last_segment,
        "consistent": w.window.consistent,
        "archived_until": w.window.end_time.isoformat() if w.window.end_time else None,
    }


@pg.command("receive", epilog=EXIT_CODES_EPILOG)
@with_repo
@with_conn
@click.option(
    "--spool-dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Where pg_receivewal writes (keep it on a persistent volume: after a restart the receiver "
    "resumes after what is there, else from the slot).",
)
@click.option("--slot", default="drkit", show_default=True, help="Physical replication slot (created if missing).")
@click.option("--create-slot/--no-create-slot", default=True, show_default=True)
@click.option(
    "--interval",
    type=DURATION,
    default="1s",
    show_default=True,
    help="Time between syncs of the spool into the repository (the archive's lag). DURATION: " + DURATION_HELP,
)
@click.option(
    "--slot-wait",
    type=DURATION,
    default="60s",
    show_default=True,
    help="How long to wait for the slot to be released by a receiver that was killed, before failing "
    "(another receiver uses it). DURATION: " + DURATION_HELP,
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics (slot lag, last received LSN and time) on this port.",
)
@click.option("--metrics-address", default="127.0.0.1", show_default=True)
def receive(  # noqa: PLR0913
    repo_ref: RepoRef,
    conn: Any,
    spool_dir: Path,
    slot: str,
    create_slot: bool,
    interval: float,
    slot_wait: float,
    metrics_port: int | None,
    metrics_address: str,
) -> None:
    """Stream WAL continuously into the WAL archive (pg_receivewal through a replication slot).

    Complete segments are stored as `wal-push` stores them (a segment archive_command also pushes is the
    same object); the segment being received is stored as a partial every --interval, so a restore to the
    end replays WAL up to a few seconds old. Runs until SIGTERM/Ctrl-C; restarts pg_receivewal if it stops
    after streaming. See docs/postgres-physical.md."""
    import prometheus_client

    if interval <= 0:
        raise click.BadParameter("must be more than 0", param_hint="--interval")
    from . import ops_receive as pgreceive
    from .receivemetrics import ReceiveFamilies

    families = ReceiveFamilies(prometheus_client.CollectorRegistry())
    metrics = families.bind("", slot)
    if metrics_port is not None:
        try:
            prometheus_client.start_http_server(metrics_port, metrics_address, registry=families.registry)
        except OSError as exc:
            where = f"{metrics_address}:{metrics_port}"
            raise click.UsageError(f"cannot serve metrics on {where}: {exc.strerror}") from None
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    req = pgreceive.ReceiveRequest(
        spool=spool_dir,
        slot=slot,
        interval=interval,
        create_slot=create_slot,
        slot_wait=slot_wait,
        report=lambda text: click.echo(text, err=True),
    )
    try:
        pgreceive.receive(repo, conn, req, metrics)
    finally:
        repo.close()
