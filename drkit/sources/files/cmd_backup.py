"""`drkit backup files`: what to back up (PATHS, --files-from), what to leave out, and --dry-run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from ...cli.cmd_backup import open_session
from ...cli.common import RepoRef, with_repo
from ...cli.epilog import EXIT_CODES_EPILOG
from ...cli.output import byte_meter, emit_json, quiet
from ...cli.params import SIZE
from ...ops.session import open_repository
from . import BackupOptions, Excludes
from .markers import CACHEDIR, Marker
from .ops import BackupRequest, BackupResult, backup_files, raise_if_partial
from .pathlist import GLOBBED, RAW, VERBATIM, read_paths

_FILE = click.Path(path_type=Path, allow_dash=True)


def _path_options(fn: Any) -> Any:
    for flag, form, what in (
        ("--files-from-raw", RAW, "NUL-separated paths (find -print0)"),
        ("--files-from-verbatim", VERBATIM, "one path per line, taken as is (no comments, no globs)"),
        ("--files-from", GLOBBED, "one path or glob per line; blank lines and lines starting with # skipped"),
    ):
        fn = click.option(
            flag,
            form.replace("-", "_"),
            multiple=True,
            type=_FILE,
            metavar="FILE",
            help=f"Back up the paths FILE lists ('-': standard input): {what}; repeatable, with PATHS or not.",
        )(fn)
    return fn


def _exclude_options(fn: Any) -> Any:
    for decorator in reversed(
        (
            click.option(
                "--exclude",
                "excludes",
                multiple=True,
                metavar="GLOB",
                help="Skip matching paths (repeatable): with a leading /, the absolute path; starting with ./ or "
                "../, a path from the working directory; with a / elsewhere, the end of a path (src/d1: every "
                ".../src/d1, as restic and rsync); without a /, any name. A pattern that matched nothing is a "
                "warning.",
            ),
            click.option(
                "--exclude-file",
                "exclude_files",
                multiple=True,
                type=click.Path(path_type=Path),
                help="Read exclude globs from a file, one per line (# comments); the rules of --exclude.",
            ),
            click.option(
                "--exclude-if-present",
                "markers",
                multiple=True,
                metavar="NAME[:HEADER]",
                help="Leave out the contents of a directory holding a file NAME (that begins with HEADER, if "
                "given); the directory and NAME are kept. Repeatable.",
            ),
            click.option(
                "--exclude-caches",
                is_flag=True,
                help="Leave out the contents of cache directories: those holding a CACHEDIR.TAG with its "
                "signature (bford.info/cachedir); --exclude-if-present 'CACHEDIR.TAG:Signature: "
                "8a477f597d28d172789f06886806bc55'.",
            ),
            click.option(
                "--exclude-larger-than",
                "larger_than",
                type=SIZE,
                default=None,
                help="Leave out files larger than SIZE (bytes, or k/m/g/t: 1024-based).",
            ),
            click.option("--one-file-system", is_flag=True, help="Do not cross file-system boundaries."),
        )
    ):
        fn = decorator(fn)
    return fn


@click.command("files", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.argument("paths", nargs=-1, type=click.Path())
@_path_options
@_exclude_options
@click.option("--tag", "tags", multiple=True)
@click.option("--parent", default=None, help="Parent snapshot (default and `latest`: newest of this host and paths).")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Walk, read and deduplicate as a backup does and say what it would store, but write nothing "
    "to the repository (no data, no snapshot, no lock); an unchanged file is not read.",
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help='List each file read, "new PATH" or "changed PATH" (with --json: "read_files" in the summary).',
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def backup_files_cmd(repo_ref: RepoRef, as_json: bool, **opts: Any) -> None:
    """Back up file trees: unchanged files (size, mtime, ctime, inode) are not read again."""
    request = _request(opts)
    read: list[dict[str, str]] = []
    if opts["verbose"]:
        request.on_read = (
            (lambda path, change: read.append({"path": path, "change": change}))
            if as_json
            else (lambda path, change: click.echo(os.fsencode(f"{change} {path}")))
        )  # a name's bytes, as ls prints
        # them: a name that is not UTF-8 must not fail the backup where stdout is strict (en_US.UTF-8)
    repo = open_repository(repo_ref.url, repo_ref.secret) if request.dry_run else open_session(repo_ref)
    with byte_meter("backup files", enabled=not as_json) as meter:
        progress, on_total = (meter.advance, meter.set_total) if meter is not None else (None, None)
        result = backup_files(repo, request, progress=progress, on_total=on_total)
    unmatched = request.options.excludes.unmatched()
    if as_json:
        extra = {"read_files": read} if opts["verbose"] else {}
        emit_json({**result.summary(), "excludes_unmatched": unmatched, **extra})
    else:
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        for pattern in unmatched:  # not a skipped entry: the exit code stays
            click.echo(f"warning: exclude pattern {pattern!r} matched nothing", err=True)
        _say_marked(result.marked)
        if not quiet():
            click.echo(_summary_line(result))
    raise_if_partial(result)


def _request(opts: dict[str, Any]) -> BackupRequest:
    paths = list(opts["paths"])
    for form in (GLOBBED, VERBATIM, RAW):
        for source in opts[form.replace("-", "_")]:
            paths.extend(read_paths(source, form))
    markers = tuple(Marker.parse(m) for m in opts["markers"]) + ((CACHEDIR,) if opts["exclude_caches"] else ())
    excludes = Excludes.load(list(opts["excludes"]), list(opts["exclude_files"]))
    options = BackupOptions(
        excludes=excludes, one_file_system=opts["one_file_system"], markers=markers, larger_than=opts["larger_than"]
    )
    return BackupRequest(
        paths=paths, options=options, tags=list(opts["tags"]), parent=opts["parent"], dry_run=opts["dry_run"]
    )


def _say_marked(marked: list[str], shown: int = 5) -> None:
    """Directories a marker left out, always said: whoever can write in a directory can hide it this way."""
    if marked:
        more = f" and {len(marked) - shown} more" if len(marked) > shown else ""
        click.echo(
            f"note: contents of {len(marked)} directories left out by their marker files "
            f"(--exclude-caches / --exclude-if-present): {', '.join(marked[:shown])}{more}",
            err=True,
        )


def _summary_line(result: BackupResult) -> str:
    st = result.snapshot.stats
    files = (
        f"files {st['files_new']} new, {st['files_changed']} changed, {st['files_unchanged']} unchanged; "
        f"{st['dirs']} dirs; {st['bytes_read']} bytes read"
    )
    if result.dry_run:
        return (
            f"dry run, nothing stored: {files}; would add {st['new_bytes']} new bytes "
            f"(about {st['stored_bytes']} stored) in {result.duration:.1f} s"
        )
    return f"snapshot {result.snapshot.short_id} saved: {files}, {st['new_bytes']} new in {result.duration:.1f} s"
