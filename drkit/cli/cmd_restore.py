"""`drkit restore SNAPSHOT --to -|FILE` for stream snapshots, plus one subcommand per source
(`drkit restore files|postgres|redis …`). A first argument that is not a subcommand name is a
snapshot reference, handled by the hidden `snapshot` subcommand."""

from __future__ import annotations

from typing import Any

import click

from ..core.errors import UsageError
from ..ops.restore import restore_to
from ..ops.session import open_repository
from ..repository.snapshots import Snapshot, SnapshotFilter, source_line
from ..sources.files.cmd import chosen_line, overwrite_options, run_restore
from ..sources.files.ops import find_files_snapshot
from .common import RepoRef, skip_damaged_option, with_repo
from .epilog import EXIT_CODES_EPILOG
from .filters import snapshot_filter
from .lazy import SourceGroup
from .output import emit_json, printable, quiet, quiet_broken_pipe


class SnapshotOrSubcommand(SourceGroup):
    """A group whose unknown first word is passed to its default command as an argument."""

    default_command = "snapshot"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """`restore --system NAME …` / `restore --all …` run the hidden `system` subcommand."""
        if args and (args[0] in ("--system", "--all") or args[0].startswith("--system=")):
            args = ["system", *args]
        return super().parse_args(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "system" and cmd_name not in self.commands:  # loaded when used, as the sources are
            from .cmd_restore_system import restore_system

            self.add_command(restore_system, "system")
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in (*self.list_commands(ctx), "system") and not args[0].startswith("-"):
            args = [self.default_command, *args]
        return super().resolve_command(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: Any) -> None:
        formatter.write_usage(
            ctx.command_path,
            "SNAPSHOT --to -|FILE | --target DIR  |  --system NAME "
            "--point-in-time T --target-dir DIR  |  COMMAND [ARGS]...",
        )


@click.group("restore", cls=SnapshotOrSubcommand, epilog=EXIT_CODES_EPILOG)
def restore() -> None:
    """Restore a snapshot: `drkit restore SNAPSHOT --to -|FILE` for streams, `drkit restore SNAPSHOT
    --target DIR` for files snapshots, a source's own subcommand (files, postgres, redis), or a whole
    system of drkit.yaml to one point in time: `drkit restore --system NAME --point-in-time T --target-dir
    DIR` (see `drkit restore system --help` and docs/systems.md)."""


@restore.command("snapshot", hidden=True, epilog=EXIT_CODES_EPILOG)
@with_repo
@click.argument("snapshot")
@click.option(
    "--to",
    "to",
    default=None,
    metavar="-|FILE",
    help="'-' for standard output, a new file, or an existing FIFO or character device (written through).",
)
@click.option("--target", default=None, metavar="DIR", help="Files snapshots: the directory to restore into.")
@click.option("--include", "includes", multiple=True, metavar="PATH", help="Files snapshots: only this path.")
@click.option("--exclude", "excludes", multiple=True, metavar="GLOB", help="Files snapshots: skip matches.")
@overwrite_options
@skip_damaged_option
@snapshot_filter
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print {"snapshot", "bytes_written", "target"} (--to FILE), or the files restore\'s document '
    "(--target); not with --to - (standard output holds the data).",
)
def restore_snapshot(
    repo_ref: RepoRef,
    snapshot: str,
    to: str | None,
    target: str | None,  # noqa: PLR0913
    skip_damaged: bool,
    snap_filter: SnapshotFilter,
    **files_opts: Any,
) -> None:
    """Restore a stream snapshot (id prefix or 'latest'); every block is verified before it is written."""
    if (to is None) == (target is None):
        raise click.UsageError("give --to -|FILE (stream snapshots) or --target DIR (files snapshots)")
    if to == "-" and files_opts.get("as_json"):
        raise UsageError(
            "--json needs --to FILE: with --to - standard output holds the snapshot's bytes",
            hint="restore to a file, or leave --json out",
        )
    repo = open_repository(repo_ref.url, repo_ref.secret)
    repo.manifests.past_damaged = skip_damaged
    if target is not None:
        snap = find_files_snapshot(repo, snapshot, None, match=snap_filter)
        run_restore(repo, snap, target=target, chosen_by=snapshot, **files_opts)
        return
    assert to is not None
    with quiet_broken_pipe():  # `restore … --to - | head`: exit 141, no message
        on_chosen = _say_latest if to == "-" and snapshot == "latest" else None
        snap, written = restore_to(repo, snapshot, to, snap_filter, on_chosen=on_chosen)
    if files_opts.get("as_json"):
        emit_json({"snapshot": snap.id, "bytes_written": written, "target": to})
    elif to != "-" and not quiet():
        click.echo(f"restored {chosen_line(snapshot, snap)}: {written} bytes to {printable(to)}", err=True)


def _say_latest(snap: Snapshot) -> None:
    """``latest --to -``: nothing else names the snapshot piped out; said before its first byte."""
    click.echo(f"latest: {source_line(snap)}", err=True)
