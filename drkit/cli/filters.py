"""``--host``, ``--tag``, ``--path``, ``--source``: the one snapshot filter of `snapshots`, `forget`,
`restore`, `ls` and `find`, folded into ``snap_filter`` (a ``SnapshotFilter``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

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
        match = SnapshotFilter.of(filter_hosts, filter_tags, filter_paths, filter_source)
        return fn(*args, snap_filter=match, **kwargs)

    wrapped: Callable[..., Any] = wrapper
    for option in _OPTIONS:
        wrapped = option(wrapped)
    return wrapped
