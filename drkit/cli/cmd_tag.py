"""`drkit tag`: add, remove or set the tags of snapshots."""

from __future__ import annotations

import click

from ..ops.session import open_repository
from ..ops.tags import TagChange, retag
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .output import emit_json


@click.command("tag", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.argument("refs", nargs=-1, required=True, metavar="SNAPSHOT...")
@click.option("--add", "add", multiple=True, metavar="TAG", help="Add TAG (repeatable).")
@click.option("--remove", "remove", multiple=True, metavar="TAG", help="Remove TAG (repeatable).")
@click.option(
    "--set",
    "set_",
    multiple=True,
    metavar="TAG",
    help="Replace all tags with these (repeatable; `--set ''` clears them).",
)
@click.option("--json", "as_json", is_flag=True)
def tag(
    repo_ref: RepoRef,
    refs: tuple[str, ...],
    add: tuple[str, ...],
    remove: tuple[str, ...],  # noqa: PLR0913
    set_: tuple[str, ...],
    as_json: bool,
) -> None:
    """Change the tags of snapshots (id prefixes or `latest`). A snapshot document is not rewritten in place:
    each changed snapshot gets a new id (its first id stays in meta.original) and the old document is removed.
    Takes a maintenance lock (not while forget or prune runs)."""
    change = TagChange(add, remove, tuple(t for t in set_ if t) if set_ else None)
    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    done = retag(repo, list(refs), change)
    if as_json:
        emit_json(
            [
                {
                    "old_id": d.old.id,
                    "new_id": d.new.id if d.new else d.old.id,
                    "changed": d.new is not None,
                    "tags": (d.new or d.old).tags,
                }
                for d in done
            ]
        )
        return
    for d in done:
        if d.new is None:
            click.echo(f"snapshot {d.old.short_id} unchanged (tags: {','.join(d.old.tags) or '-'})")
        else:
            click.echo(f"snapshot {d.old.short_id} -> {d.new.short_id} (tags: {','.join(d.new.tags) or '-'})")
