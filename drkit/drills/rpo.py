"""Catalog RPO: the newest point the repository can restore a job to — the end of its newest
snapshot or, for point-in-time sources, the newest archived WAL segment or AOF timestamp."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..repository import snapshots
from ..repository.repo import Repository
from ..repository.snapshots import Snapshot
from ..sources.registry import HasCatalogPoints, source_kind


def _parse(text: str) -> datetime:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def job_snapshots(repo: Repository, job: str, kind: str) -> list[Snapshot]:
    return [s for s in snapshots.load_all(repo.manifests) if s.source_kind == kind and s.source_name == job]


def ran_before(repo: Repository, job: str, kind: str, when: str) -> bool:
    """True if a snapshot of ``job`` started at or before ``when`` (its run wrote the canary before it);
    True too if ``when`` does not parse (the restore reports that)."""
    try:
        limit = _parse(when)
    except ValueError:
        return True
    return any(_parse(s.time) <= limit for s in job_snapshots(repo, job, kind))


def newest_point(repo: Repository, job: str, source: Any, also: str = "") -> datetime | None:
    """The newest point of the job's snapshots (and of snapshot ``also``, full id: the one a drill restored,
    which another command may have taken, e.g. a base backup by `drkit backup postgres`), and of what the
    kind's archive adds to them (WAL windows, the AOF archive): ``source`` is the job's ``source:``."""
    kind = source.kind
    snaps = [
        s
        for s in snapshots.load_all(repo.manifests)
        if s.source_kind == kind and (s.source_name == job or s.id == also)
    ]
    points = [_parse(s.end_time or s.time) for s in snaps]
    plugin = source_kind(kind)
    if isinstance(plugin, HasCatalogPoints):
        points += plugin.catalog_points(repo, source, job, snaps)
    return max(points) if points else None
