"""`drkit … files` commands: `backup files`, `restore files`, `ls`, `diff`."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import click

from ...cli.common import RepoRef, skip_damaged_option, with_repo
from ...cli.epilog import EXIT_CODES_EPILOG
from ...cli.filters import snapshot_filter
from ...cli.output import byte_meter, emit_json, printable, quiet
from ...cli.params import TIME, TIME_HELP
from ...core.errors import UsageError
from ...core.printed import spellings
from ...ops.session import open_repository
from ...repository import pointintime
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot, SnapshotFilter, source_line
from . import OVERWRITE_CHOICES, Excludes, Policy, RestoreStats, Selection
from .cmd_backup import backup_files_cmd as backup_files_cmd  # lazy.SOURCES names it here
from .diff import lookup, spelled
from .ops import (
    backup_skipped,
    diff_snapshots,
    files_snapshot_at,
    find_files_snapshot,
    list_files,
    raise_if_partial_restore,
    repaired_from,
    restore_files,
    skipped_line,
)
from .tree import DIR, SYMLINK, Node
from .view import view_tree

OVERWRITE_HELP = (
    "What to do with a restored path the target already holds: always (replace), if-changed "
    "(replace unless size and mtime match; metadata still set), if-newer (replace if the snapshot's "
    "mtime is newer), never (keep). Default: refuse to restore if anything is in the way, before "
    "writing anything. See docs/files.md."
)


SPECIAL_HELP = (
    "Also restore device nodes, FIFOs and sockets, and keep setuid, setgid and world-writable mode "
    "bits and file capabilities (security.capability) as the snapshot has them (a full system "
    "restore, as root). Default: none of them; each is a warning and the restore exits 3. See "
    "docs/files.md."
)


def overwrite_options(fn: Any) -> Any:
    """``--overwrite``, ``--delete`` and ``--special-files``, shared by `restore files` and `restore SNAPSHOT
    --target`."""
    fn = click.option("--special-files", "special_files", is_flag=True, help=SPECIAL_HELP)(fn)
    fn = click.option(
        "--delete",
        is_flag=True,
        help="Remove entries of the restored directories that are not "
        "in the snapshot (only what --include/--exclude select; never the target's top level).",
    )(fn)
    return click.option("--overwrite", type=click.Choice(OVERWRITE_CHOICES), default=None, help=OVERWRITE_HELP)(fn)


@click.command("files", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.argument("snapshot", required=False)
@click.option("--target", required=True, type=click.Path(), help="Directory to restore into.")
@click.option(
    "--point-in-time",
    "point_in_time",
    type=TIME,
    default=None,
    help="The newest snapshot that had finished (was wholly read) by TIME. " + TIME_HELP,
)
@click.option("--source-name", default=None, help="Which files source, when the repository holds several.")
@click.option(
    "--include",
    "includes",
    multiple=True,
    metavar="PATH",
    help="Only this snapshot path (repeatable), as `drkit ls` prints it (caf\\351) or as it is.",
)
@click.option(
    "--exclude",
    "excludes",
    multiple=True,
    metavar="GLOB",
    help="Skip matching paths (repeatable): with a /, a snapshot path as `drkit ls` shows it (src/app/cache, "
    "leading / optional); else any name.",
)
@overwrite_options
@skip_damaged_option
@snapshot_filter
@click.option("--json", "as_json", is_flag=True)
def restore_files_cmd(
    repo_ref: RepoRef,
    snapshot: str | None,
    point_in_time: str | None,  # noqa: PLR0913
    source_name: str | None,
    skip_damaged: bool,
    snap_filter: SnapshotFilter,
    **opts: Any,
) -> None:
    """Restore a files snapshot (or the one at --point-in-time) into --target, verified. A snapshot written by
    `repair snapshots` restores without what its repair dropped, and one of a partial backup (it skipped or
    half-read entries, exit 3) without or with torn copies of those: a warning naming them, exit 3."""
    if snapshot is not None and point_in_time is not None:
        raise click.UsageError("give either SNAPSHOT or --point-in-time, not both")
    repo = open_repository(repo_ref.url, repo_ref.secret)
    repo.manifests.past_damaged = skip_damaged
    if point_in_time is None:
        snap = find_files_snapshot(repo, snapshot, None, source_name, snap_filter)
    else:
        snap, running = files_snapshot_at(repo, point_in_time, source_name, snap_filter)
        if running is not None:  # passed over: said, never silent
            click.echo(f"note: {pointintime.running_line(running, point_in_time)}", err=True)
    run_restore(repo, snap, chosen_by=snapshot if point_in_time is None else f"at {point_in_time}", **opts)


def chosen_line(chosen_by: str | None, snap: Snapshot) -> str:
    """How a restore's summary names ``snap``: with its source, host and paths when ``latest`` or a point in
    time chose it (an id names itself)."""
    if chosen_by == "latest" or (chosen_by or "").startswith("at "):
        return source_line(snap)
    return f"snapshot {snap.short_id}"


def run_restore(
    repo: Repository, snap: Snapshot, *, target: str, as_json: bool, chosen_by: str | None = None, **opts: Any
) -> None:
    """Shared by `restore files` and `restore SNAPSHOT --target` (opts: includes, excludes, overwrite, delete,
    special_files). ``chosen_by``: the reference or ``at T`` that chose ``snap`` (said when not an id)."""
    if opts["delete"] and opts["overwrite"] is None:
        raise UsageError(
            "--delete needs an --overwrite choice",
            hint="e.g. --overwrite always --delete: the "
            "target's restored directories then hold exactly the snapshot's entries",
        )
    tree = view_tree(repo, snap)  # an --include as `drkit ls` printed it, read back
    includes = tuple(spelled(repo, tree, p).strip("/") for p in opts["includes"])
    selection = Selection(includes, Excludes(_rooted(_spelled_excludes(repo, tree, opts["excludes"]))))
    policy = Policy(opts["overwrite"], opts["delete"], opts["special_files"])
    repaired = repaired_from(snap)
    if repaired is not None:  # before the restore: said even when it fails
        click.echo(f"warning: {repaired.line()}", err=True)
    if backup_skipped(snap):  # the backup exited 3: what it skipped is not restored
        click.echo(f"warning: {skipped_line(snap)}", err=True)
    with byte_meter("restore", enabled=not as_json) as meter:
        progress, on_total = (meter.advance, meter.set_total) if meter is not None else (None, None)
        stats = restore_files(repo, snap, target, selection, progress=progress, policy=policy, on_total=on_total)
    if as_json:
        emit_json(
            {
                "snapshot": snap.id,
                "target": target,
                **asdict(stats),
                "repaired": asdict(repaired) if repaired is not None else None,
                "backup_skipped": backup_skipped(snap),
            }
        )  # entries its (partial) backup skipped or half-read
    else:
        for warning in stats.warnings:
            click.echo(f"warning: {warning}", err=True)
        if not quiet():
            click.echo(
                f"restored {chosen_line(chosen_by, snap)}: {stats.files} files, {stats.dirs} dirs, "
                f"{stats.bytes_written} bytes to {printable(target)}" + _existing_summary(stats),
                err=True,
            )
    raise_if_partial_restore(snap, stats)


def _existing_summary(stats: RestoreStats) -> str:
    parts = []
    if stats.unchanged:
        parts.append(f"{stats.unchanged} files unchanged (size and mtime match)")
    if stats.kept:
        parts.append(f"{stats.kept} existing entries kept")
    if stats.extra:
        parts.append(f"{stats.extra} entries not in the snapshot left in place (--delete removes them)")
    if stats.deleted:
        parts.append(f"{stats.deleted} entries not in the snapshot removed")
    if stats.specials_skipped:
        parts.append(f"{stats.specials_skipped} device nodes, FIFOs or sockets not restored (--special-files)")
    if stats.modes_restricted:
        parts.append(
            f"{stats.modes_restricted} setuid, setgid or world-writable modes or file capabilities "
            "restricted (--special-files)"
        )
    return "; " + "; ".join(parts) if parts else ""


@click.command("ls", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.argument("snapshot")
@click.argument("path", required=False, default="")
@click.option("--long", "-l", "long", is_flag=True, help="Show type, mode, owner, size and mtime (UTC).")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print [{"path", "type", "mode", "uid", "gid", "user", "group", '
    '"size", "mtime", "mtime_ns", "links", "target"}] (mode: permission bits; mtime: ISO 8601, UTC; a '
    "name's bytes that are not UTF-8 as \\udc80-\\udcff escapes: os.fsencode gives the bytes back).",
)
@snapshot_filter
def ls(repo_ref: RepoRef, snapshot: str, path: str, long: bool, as_json: bool, snap_filter: SnapshotFilter) -> None:
    """List the entries of a files snapshot (under PATH); with a filter, `latest` is the newest it selects.
    Names are shown as `ls -b` shows them: a backslash doubled, control characters and bytes that are not
    UTF-8 as escapes (`caf\\351`)."""
    repo = open_repository(repo_ref.url, repo_ref.secret)
    entries = (("/" + rel, node) for rel, node in list_files(repo, snapshot, path, snap_filter))
    if as_json:
        emit_json([_ls_doc(p, node) for p, node in entries])
        return
    for path_, node in entries:  # names as `ls -b` shows them: a name that is not UTF-8 cannot crash the line
        shown = printable(path_) + ("/" if node.type == DIR else "")
        shown += f" -> {printable(node.target)}" if node.type == SYMLINK else ""
        if long:
            mtime = _mtime(node).strftime("%Y-%m-%d %H:%M:%S")
            click.echo(
                f"{node.type:8} {node.mode:04o} {printable(node.user) or node.uid:>8} "
                f"{printable(node.group) or node.gid:>8} {node.size:>12} {mtime} {shown}"
            )
        else:
            click.echo(shown)


def _mtime(node: Node) -> datetime:
    seconds, ns = divmod(node.mtime_ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=ns // 1000)


def _ls_doc(path: str, node: Node) -> dict[str, Any]:
    return {
        "path": path,
        "type": node.type,
        "mode": node.mode,
        "uid": node.uid,
        "gid": node.gid,
        "user": node.user,
        "group": node.group,
        "size": node.size,
        "mtime": _mtime(node).isoformat(),
        "mtime_ns": node.mtime_ns,
        "links": node.links,
        "target": node.target if node.type == SYMLINK else None,
    }


@click.command("diff", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.argument("snapshot_a")
@click.argument("snapshot_b")
@click.option("--json", "as_json", is_flag=True)
def diff(repo_ref: RepoRef, snapshot_a: str, snapshot_b: str, as_json: bool) -> None:
    """Paths added (+), removed (-) and modified (M) from SNAPSHOT_A to SNAPSHOT_B."""
    repo = open_repository(repo_ref.url, repo_ref.secret)
    changes = list(diff_snapshots(repo, snapshot_a, snapshot_b))
    if as_json:
        emit_json([{"change": c.kind, "path": "/" + c.path} for c in changes])
        return
    for c in changes:
        click.echo(f"{c.kind}  /{printable(c.path)}")


def _rooted(patterns: tuple[str, ...]) -> tuple[str, ...]:
    """Restore excludes holding a ``/`` name snapshot paths, anchored at the snapshot's root with or without
    the leading ``/``, as --include and `drkit ls` spell them (``src/keep`` matched nothing before: an
    --exclude meant to protect it under --delete did not). The pattern as given is kept too: what it
    matched before (``*/cache`` the top-level ``cache``, ``?src/x`` ``/src/x``) it still matches."""
    rooted = (f"/{p}" for p in patterns if "/" in p.rstrip("/") and not p.startswith("/"))
    return (*patterns, *rooted)


def _spelled_excludes(repo: Repository, tree: str, patterns: tuple[str, ...]) -> tuple[str, ...]:
    """Restore excludes as `drkit ls` prints names (`caf\\351`), read back: a pattern naming an entry of the
    snapshot in one spelling (the printed one first, as for --include) is that entry's; another one (a glob)
    is matched in both, so that a name typed raw with a backslash is still left out."""
    chosen: list[str] = []
    for pattern in patterns:
        named = spelled(repo, tree, pattern)
        chosen.extend([named] if lookup(repo, tree, named) is not None else spellings(pattern))
    return tuple(chosen)
