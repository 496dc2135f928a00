"""Retention of archived AOF segments (``redis_aof`` records), following the Redis snapshots kept.

Archived segments group by the AOF base they follow (one group per rewrite), and point-in-time
restore needs a group whole. For each Redis source with snapshots left, a group is removed when it
holds no kept AOF snapshot's base and its window ends before that source's oldest kept snapshot:
every time it could restore to lies before the retained window. A source with no snapshot left keeps
its archive (like WAL before a first base backup).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...repository.immutability import Trimming
from ...repository.manifests import manifest_key
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from .kinds import ARCHIVE_KIND

GroupKey = tuple[str, str, int]  # source name, base file, base mtime (s)


def _group(doc: dict[str, Any]) -> GroupKey:
    return doc["source_name"], doc["base"], int(float(doc["base_mtime"]))


def _end(doc: dict[str, Any]) -> float:
    return max(float(doc.get("last_ts") or 0), float(doc.get("archived_at") or 0))


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
    records = list(repo.manifests.find(ARCHIVE_KIND))
    ends: dict[GroupKey, float] = {}
    for _, doc in records:
        ends[_group(doc)] = max(ends.get(_group(doc), 0.0), _end(doc))
    result = Trimming()  # archive record ids
    for doc_id, doc in records:
        key = _group(doc)
        if key[0] not in oldest or key in needed or ends[key] >= oldest[key[0]]:
            result.keep()
        else:
            result.drop(doc_id, repo.locked_until(manifest_key(ARCHIVE_KIND, doc_id)))
    return result


def remove_archived(repo: Repository, plan: Trimming) -> None:
    for doc_id in plan.removed:
        repo.manifests.delete(ARCHIVE_KIND, doc_id)
