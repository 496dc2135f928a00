"""Catalog RPO: the newest point the repository can restore a job to — the end of its newest
snapshot or, for point-in-time sources, the newest archived WAL segment or AOF timestamp."""

from __future__ import annotations

from datetime import UTC, datetime

from ..repository import snapshots
from ..repository.repo import Repository
from ..repository.snapshots import Snapshot


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


def newest_point(repo: Repository, job: str, kind: str, also: str = "", archive: str = "") -> datetime | None:
    """The newest point of the job's snapshots (and of snapshot ``also``, full id: the one a drill restored,
    which another command may have taken, e.g. a base backup by `drkit backup postgres`; and, for Redis,
    of the AOF archive recorded under the name ``archive``)."""
    snaps = [s for s in snapshots.load_all(repo.manifests)
             if s.source_kind == kind and (s.source_name == job or s.id == also)]
    points = [_parse(s.end_time or s.time) for s in snaps]
    if kind == "postgres" and any(s.meta.get("mode") == "physical" for s in snaps):
        from ..sources.postgres.ops import windows as pg_windows  # the [postgres]/[redis] extras: only for their kinds

        points += [w.window.end_time for w in pg_windows(repo, snaps) if w.window.end_time is not None]
    if kind == "redis":
        from ..sources.redis.ops import redis_windows

        for name in dict.fromkeys(n for n in (job, archive) if n):
            points += [_parse(row["to"]) for row in redis_windows(repo, name) if row["kind"] != "rdb"]
    return max(points) if points else None
