"""The Redis AOF archive as the ``redis`` plugin declares it to ``drkit check``, ``copy`` and ``forget``
(``HasLogArchives``): AOF increments, objects of the log kind ``aoflog.AOF_LOG`` (read back and
inspected by ``check --read-data`` the one way, their holes named by ``aoflog.gap_lines``), plus the
``redis_aof`` records (every base file, and INCR growth an older drkit archived; checked with the
manifests, ``repository.check_rooted``). Retention is ``archive_keep`` (a group goes whole, both forms
alike); ``copy`` carries the copied snapshots' sources' archive group by group in history order: a
group's records (each record's content re-written through the target: a slice of the ops layer, it
uses ``ops.copy_content``), then its increments (re-sealed with the target's keys, ``copy_log``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ...ops.copy_content import ContentCopier
from ...repository.archive import LogConflict, copy_log
from ...repository.immutability import Trimming
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ...repository.writer import BlobWriter, WriteStats
from ..logarchives import ArchiveCopy, ArchiveSpec, Progress
from . import aoflog
from .archive_keep import plan_aof_retention, remove_archived
from .kinds import ARCHIVE_KIND
from .segments import records

Group = tuple[list[dict[str, Any]], list[aoflog.Increment]]  # a group's records to copy, then its increments
# a record's identity: two servers archived under one name have files of one name (``history``): the
# history tells their records apart, or the second one's base would never be copied
_AOF_KEY = ("source_name", "history", "base", "base_mtime", "file", "offset", "length")


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


def _increments_todo(source: Repository, target: Repository, names: set[str]) -> list[aoflog.Increment]:
    """The increments of the Redis sources ``names`` the target lacks, in history order."""
    if not names:
        return []
    have = set(aoflog.archive(target).names())
    found = [i for i in aoflog.increments(source) if i.source in names and i.name not in have]
    return sorted(found, key=lambda i: (i.source, i.base_mtime, i.base, i.seq, i.offset))


def _by_group(docs: list[dict[str, Any]], incs: list[aoflog.Increment]) -> list[Group]:
    """(records, increments) per group, groups in history order: a copy stopped anywhere leaves a prefix
    (within a group, records hold its base and the INCR growth archived before the increments)."""
    groups: dict[tuple[str, int, str], Group] = {}
    for d in docs:
        groups.setdefault((d["source_name"], int(float(d["base_mtime"])), d["base"]), ([], []))[0].append(d)
    for i in incs:
        groups.setdefault((i.source, i.base_mtime, i.base), ([], []))[1].append(i)
    return [groups[key] for key in sorted(groups)]


def _copy_groups(
    source: Repository, target: Repository, groups: list[Group], progress: Progress
) -> tuple[int, WriteStats]:
    """Copy ``groups`` (``_by_group``) in order: (records and increments stored, the blobs written). An
    increment the target holds with other content is left as it is; ``LogConflict`` once the rest is copied."""
    count, stats, conflicts = 0, WriteStats(), []
    for docs, incs in groups:
        if docs:
            copied, written = copy_aof_archive(source, target, docs, progress)
            count += copied
            for name, value in asdict(written).items():
                setattr(stats, name, getattr(stats, name) + value)
        for inc in incs:
            stored, _, clash = copy_log(aoflog.archive(source), aoflog.archive(target), [inc.name])
            count += stored
            conflicts += clash
            if progress is not None:
                progress(inc.end - inc.offset)
    if conflicts:
        raise LogConflict(aoflog.AOF_LOG, conflicts)
    return count, stats


def _copy(source: Repository, target: Repository, chosen: list[Snapshot]) -> ArchiveCopy | None:
    """Listed once (a listing reads every archive record of both repositories): for the total and the copy."""
    names = {s.source_name for s in chosen if s.source_kind == "redis"}
    todo, incs = aof_todo(source, target, names), _increments_todo(source, target, names)
    if not todo and not incs:
        return None
    groups = _by_group(todo, incs)

    def run(progress: Progress) -> tuple[int, WriteStats]:
        return _copy_groups(source, target, groups, progress)

    total = sum(int(d["root"].get("size", 0)) for d in todo) + sum(i.end - i.offset for i in incs)
    return ArchiveCopy(total, run)


def _forget_lines(plan: Trimming, verb: str) -> list[str]:
    return [f"AOF archive: {verb} {len(plan.removed)} segments older than every Redis snapshot kept; {plan.kept} kept"]


def aof_archive() -> ArchiveSpec:
    return ArchiveSpec(
        label="aof",
        noun="AOF segment",
        nouns="AOF segments",
        source_kind="redis",
        log=aoflog.AOF_LOG,
        gaps=lambda repo, _snaps, names: aoflog.gap_lines(names, [d for _, d in records(repo)]),
        inspect=lambda _snaps: aoflog.inspect,
        plan=plan_aof_retention,
        remove=remove_archived,
        copy=_copy,
        forget_key="aof_archive",
        copy_key="aof_segments",
        forget_lines=_forget_lines,
    )
