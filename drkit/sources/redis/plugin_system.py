"""A Redis component of a system restore (``drkit restore --system``), planned. AOF annotations have
one-second resolution; the cut is the one every Redis point-in-time restore makes (``pitr.aof_cut``): the
seconds before ``floor(T)``, so nothing after T is restored — the state at ``floor(T)``. Without an AOF
covering that, the newest RDB snapshot that ended at or before T. A slice of the jobs layer (it reads the
job's ``source:``)."""

from __future__ import annotations

from datetime import UTC, datetime

from ...core.errors import UsageError
from ...core.timespec import format_time
from ...repository.repo import Repository
from ..system import ComponentPlan
from . import catalog, pitr
from .config import RedisSource


def plan_redis(repo: Repository, job: str, source: RedisSource, target: datetime) -> ComponentPlan:
    """The AOF of the job's own name, else of the source's ``name`` (`redis aof-archive --name`); else an RDB.
    The plan's ``source_name`` is the name it restores; ``point_in_time`` the AOF cut (None: the RDB)."""
    cut = pitr.aof_cut(target.timestamp())
    problems: list[str] = []
    for name in dict.fromkeys([job, source.name]):
        pieces = catalog.aof_pieces(repo, name)
        if not pieces:
            continue
        try:
            pitr.choose_group(pitr.group_pieces(pieces), cut)
        except UsageError as exc:
            problems.append(exc.message)
            continue
        point = datetime.fromtimestamp(cut.point, UTC)
        return ComponentPlan(
            job,
            "redis",
            point,
            f"AOF of {name!r} cut after {pitr.iso(cut.last_second)} (the state at "
            f"{format_time(point)}: AOF times have one-second resolution)",
            source_name=name,
            point_in_time=pitr.iso(cut.point),  # the restore cuts before it: the same cut
        )
    for name in dict.fromkeys([job, source.name]):
        try:
            snap = catalog.rdb_at(repo, target.timestamp(), name)
        except UsageError as exc:
            problems.append(exc.message)
            continue
        return ComponentPlan(
            job,
            "redis",
            catalog.snapshot_time(snap),
            f"RDB snapshot {snap.short_id}",
            snapshot=snap.id,
            source_name=name,
        )
    raise UsageError(f"job {job}: no Redis AOF or RDB reaches {format_time(target)}: " + "; ".join(problems))
