"""Retention of the archived AOF (``segments``: ``redis_aof`` records and AOF increments of the log
archive), following the Redis snapshots kept.

Archived segments group by the AOF base they follow (one group per rewrite), and point-in-time
restore needs a group whole. For each Redis source with snapshots left, a group is removed when it
holds no kept AOF snapshot's base and its window ends before that source's oldest kept snapshot:
every time it could restore to lies before the retained window. A source with no snapshot left keeps
its archive (like WAL before a first base backup). A group goes whole, both forms alike; a piece under
retention (immutability) is kept, with the date its lock ends.

The plan's items are record ids and increment names (``segments.is_increment`` tells them apart).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...repository.archive import trim
from ...repository.immutability import Trimming
from ...repository.manifests import manifest_key
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from . import aoflog
from .kinds import ARCHIVE_KIND
from .segments import is_increment, segments

GroupKey = tuple[str, str, int]  # source name, base file, base mtime (s)


def _group(doc: dict[str, Any]) -> GroupKey:
    return doc["source_name"], doc["base"], int(float(doc["base_mtime"]))


def _end(doc: dict[str, Any]) -> float:
    return max(float(doc.get("last_ts") or 0), float(doc.get("archived_at") or 0))


def _locked(repo: Repository, key: str) -> datetime | None:
    if is_increment(key):
        return aoflog.archive(repo).locked_until(key)
    return repo.locked_until(manifest_key(ARCHIVE_KIND, key))


def plan_aof_retention(repo: Repository, retained: list[Snapshot]) -> Trimming:
    redis = [s for s in retained if s.source_kind == "redis"]
    oldest: dict[str, float] = {}
    for s in redis:
        at = datetime.fromisoformat(s.time).timestamp()
        oldest[s.source_name] = min(at, oldest.get(s.source_name, at))
    needed = {
        (s.source_name, s.meta["base"], int(float(s.meta["base_mtime"])))
        for s in redis
        if s.meta.get("mode") == "aof" and s.meta.get("base")
    }
    found = segments(repo)
    ends: dict[GroupKey, float] = {}
    for _, doc in found:
        ends[_group(doc)] = max(ends.get(_group(doc), 0.0), _end(doc))
    result = Trimming()  # record ids and increment names
    for key, doc in found:
        group = _group(doc)
        if group[0] not in oldest or group in needed or ends[group] >= oldest[group[0]]:
            result.keep()
        else:
            result.drop(key, _locked(repo, key))
    return result


def remove_archived(repo: Repository, plan: Trimming) -> None:
    """Delete what ``plan_aof_retention`` chose (under the maintenance lock): increments first, then the
    records (a base record goes last, so an interruption never leaves increments without their base)."""
    trim(aoflog.archive(repo), Trimming(removed=[k for k in plan.removed if is_increment(k)]))
    for doc_id in (k for k in plan.removed if not is_increment(k)):
        repo.manifests.delete(ARCHIVE_KIND, doc_id)
