"""The Redis AOF archive (``redis_aof`` records with stream roots) as the ``redis`` plugin declares it
to ``drkit check``, ``copy`` and ``forget`` (``HasLogArchives``): retention by ``archive_keep``, and
``copy`` carrying the archived segments of the copied snapshots' sources, each record's content
re-written through the target (a slice of the ops layer: it uses ``ops.copy_content``)."""

from __future__ import annotations

from typing import Any

from ...ops.copy_content import ContentCopier
from ...repository.immutability import Trimming
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ...repository.writer import BlobWriter, WriteStats
from ..logarchives import ArchiveCopy, ArchiveSpec, Progress
from .archive_keep import plan_aof_retention, remove_archived
from .kinds import ARCHIVE_KIND

_AOF_KEY = ("source_name", "base", "base_mtime", "file", "offset", "length")


def aof_todo(source: Repository, target: Repository, names: set[str]) -> list[dict[str, Any]]:
    """The archived AOF segment records of the Redis sources ``names`` that the target lacks."""
    if not names:
        return []
    have = {tuple(d.get(k) for k in _AOF_KEY) for _, d in target.manifests.find(ARCHIVE_KIND)}
    todo = [
        d
        for _, d in source.manifests.find(ARCHIVE_KIND, lambda d: d.get("source_name") in names)
        if tuple(d.get(k) for k in _AOF_KEY) not in have
    ]
    # in history order: a copy stopped anywhere leaves a prefix (a record's last_ts proves its group up to
    # that second, so one stored before an older segment made the older file's missing tail go unseen)
    todo.sort(
        key=lambda d: (d["source_name"], float(d["base_mtime"]), d["base"], d["type"] != "b", d["seq"], d["offset"])
    )
    return todo


def copy_aof_archive(
    source: Repository, target: Repository, todo: list[dict[str, Any]], progress: Progress = None
) -> tuple[int, WriteStats]:
    """Archived AOF segments ``todo`` (``aof_todo``), each with its content re-written."""
    count = 0
    with BlobWriter(repo=target) as writer:
        copier = ContentCopier(source, writer, progress)
        roots = [copier.stream(d["root"]) for d in todo]
        writer.flush()
    for doc, root in zip(todo, roots, strict=True):
        target.manifests.put(ARCHIVE_KIND, {**doc, "root": root})
        count += 1
    return count, writer.stats


def _copy(source: Repository, target: Repository, chosen: list[Snapshot]) -> ArchiveCopy | None:
    """Listed once (a listing reads every archive record of both repositories): for the total and the copy."""
    todo = aof_todo(source, target, {s.source_name for s in chosen if s.source_kind == "redis"})
    if not todo:
        return None

    def run(progress: Progress) -> tuple[int, WriteStats]:
        return copy_aof_archive(source, target, todo, progress)

    return ArchiveCopy(sum(int(d["root"].get("size", 0)) for d in todo), run)


def _forget_lines(plan: Trimming, verb: str) -> list[str]:
    return [f"AOF archive: {verb} {len(plan.removed)} segments older than every Redis snapshot kept; {plan.kept} kept"]


def aof_archive() -> ArchiveSpec:
    return ArchiveSpec(
        label="aof",
        noun="AOF segment",
        nouns="AOF segments",
        source_kind="redis",
        plan=plan_aof_retention,
        remove=remove_archived,
        copy=_copy,
        forget_key="aof_archive",
        copy_key="aof_segments",
        forget_lines=_forget_lines,
    )
