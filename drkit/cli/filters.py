"""``--host``, ``--tag``, ``--path``, ``--source``: the one snapshot filter of `snapshots`, `forget`,
`restore`, `ls` and `find`, folded into ``snap_filter`` (a ``SnapshotFilter``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from ..core.errors import UsageError
from ..repository.snapshots import SnapshotFilter

_OPTIONS = (
    click.option(
        "--source",
        "filter_source",
        default=None,
        metavar="KIND",
        help="Only snapshots of this source kind (files, postgres, redis, stdin).",
    ),
    click.option(
        "--path",
        "filter_paths",
        multiple=True,
        metavar="PATH",
        help="Only files snapshots that include PATH (absolute, as backed up; repeatable: all of them).",
    ),
    click.option(
        "--tag",
        "filter_tags",
        multiple=True,
        metavar="T[,T...]",
        help="Only snapshots with all these tags (repeatable: any of the groups; '' : snapshots without tags).",
    ),
    click.option(
        "--host",
        "filter_hosts",
        multiple=True,
        metavar="HOST",
        help="Only snapshots taken on HOST (repeatable: any of them).",
    ),
)


def _refuse_empty(source: str | None, paths: tuple[str, ...]) -> None:
    """``--source ''`` (``--source "$UNSET"``) used to be ignored where a command asks whether there is
    a filter at all (``snapshots`` listed every snapshot) and to select nothing elsewhere; ``--path ''``
    meant the working directory. Both are usage errors (``--tag ''`` keeps its meaning: no tags)."""
    if source is not None and not source.strip():
        raise UsageError(
            "--source is empty; give a source kind (files, postgres, redis, stdin)",
            hint="an unset shell variable? leave --source out to select every kind",
        )
    if any(not p.strip() for p in paths):
        raise UsageError(
            "--path is empty; give an absolute path as backed up",
            hint="an unset shell variable? leave --path out to select every path",
        )


def snapshot_filter(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: the filter options, passed on as ``snap_filter``."""

    @functools.wraps(fn)
    def wrapper(
        *args: Any,
        filter_hosts: tuple[str, ...] = (),
        filter_tags: tuple[str, ...] = (),
        filter_paths: tuple[str, ...] = (),
        filter_source: str | None = None,
        **kwargs: Any,
    ) -> Any:
        _refuse_empty(filter_source, filter_paths)
        match = SnapshotFilter.of(filter_hosts, filter_tags, filter_paths, filter_source)
        return fn(*args, snap_filter=match, **kwargs)

    wrapped: Callable[..., Any] = wrapper
    for option in _OPTIONS:
        wrapped = option(wrapped)
    return wrapped
