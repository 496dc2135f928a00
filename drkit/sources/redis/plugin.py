"""The ``redis`` source kind as the registry sees it (entry point ``drkit.sources: redis``): what a job
run calls. A slice of the jobs layer inside the Redis package (ARCHITECTURE.md, "source packages"):
it adapts a job's ``source:`` (``config.RedisSource``) and its connection (``plugin_conn``)
to the package's use cases."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from ...core import clock
from ...core.errors import DrkitError
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ..logarchives import ArchiveSpec
from ..registry import BackupOutcome, RestoredComponent
from .config import RedisSource
from .plugin_conn import redis_target
from .segments import segments

log = logging.getLogger("drkit.scheduler")  # the daemon reads the archive (its freshness series)


class RedisKind:
    name = "redis"
    config_model: type[BaseModel] = RedisSource
    context_drill = "drkit.sources.redis.drills.drill:drill_redis"

    def describe(self, config: RedisSource) -> str:
        return f"redis {config.url or config.master_name}"

    def local_drill(self, config: RedisSource) -> str | None:
        return None  # a redis container when Docker is reachable, else a local redis-server

    archive_label = "aof"

    def archives(self, config: RedisSource) -> bool:
        """The daemon reads the AOF records ``drkit redis archive`` writes; a job with ``archive:`` is
        archived by the daemon itself, which sets its freshness each round (``plugin_daemon``)."""
        return config.archive is None

    def newest_archived(self, repo: Repository, config: RedisSource, job: str) -> float | None:
        """The newest ``archived_at`` of the source's archived AOF (records and increments, ``segments``). A
        record without a usable one (written by a buggy or future drkit), or an increment whose name does
        not parse, is logged and left out: it must not stop the daemon at start-up, and the other jobs'
        series (and this job's other records) still count (a restore refuses it, ``drkit check`` names it)."""
        newest: float | None = None
        for doc_id, doc in segments(repo, config.name, strict=False):
            at = doc.get("archived_at")
            if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
                log.warning(
                    "AOF archive record %s of %s has no valid archived_at (%.40r); left out",
                    doc_id[:12],
                    config.name,
                    at,
                    extra={"source": config.name},
                )
                continue
            newest = float(at) if newest is None else max(newest, float(at))
        return newest

    def log_archives(self) -> list[ArchiveSpec]:
        from .ops_archive import aof_archive

        return [aof_archive()]

    def catalog_points(self, repo: Repository, config: RedisSource, job: str, snaps: list[Snapshot]) -> list[datetime]:
        """The job's AOF windows and those of the AOF archive its source ``name`` records."""
        from .ops import redis_windows  # the [redis] extra: only for this kind

        return [
            _aware(row["to"])
            for name in dict.fromkeys(n for n in (job, config.name) if n)
            for row in redis_windows(repo, name)
            if row["kind"] != "rdb"
        ]

    window_label = "Redis"
    window_unit = "snapshot"

    def window_start(self, snap: Snapshot) -> str | None:
        """Every Redis snapshot starts the window its archived AOF extends, from its start."""
        return snap.time

    def plan_system_component(self, repo: Repository, job: str, config: RedisSource, target: datetime) -> Any:
        from .plugin_system import plan_redis

        return plan_redis(repo, job, config, target)

    def load_target(self, url: str) -> Any:
        from .conn import make_target  # the [redis] extra, imported when used
        from .restore import check_load_target

        target = make_target(url)
        check_load_target(target)
        return target

    def restore_system_component(self, c: Any) -> None:
        """Into a directory, or every key loaded into a running server (it must be empty)."""
        from pathlib import Path

        from ...jobs.connect import open_job_repository
        from .ops import RestoreOptions, restore_redis

        plan = c.plan
        repo, _ = open_job_repository(c.config, c.config.job(plan.job))
        if not isinstance(c.target, Path):
            opts = RestoreOptions(to_url=c.target, point_in_time=plan.point_in_time, name=plan.source_name)
        else:
            opts = RestoreOptions(
                target_dir=c.target, point_in_time=plan.point_in_time, name=plan.source_name, start=c.req.start
            )
        try:
            restored = restore_redis(repo, None if plan.point_in_time else plan.snapshot, opts)
        finally:
            repo.close()
        c.out.port, c.out.pid = restored.port, restored.pid

    def system_drill(self, plan: Any, target: datetime) -> tuple[str | None, str | None]:
        if plan.point_in_time is not None:  # an AOF cut: the drill picks what reaches it
            return None, plan.point_in_time
        return plan.snapshot, None

    def write_heartbeat(self, config: RedisSource, key: str, at: datetime) -> None:
        from . import facts as redis_facts  # [redis] extra: imported when used
        from .conn import connected, resolve

        with connected(resolve(redis_target(config))) as c:
            redis_facts.write_canary(c, key, round(at.timestamp() * 1000))

    def read_heartbeat(self, config: RedisSource, system: str, restored: RestoredComponent) -> datetime | None:
        """From the running server it was loaded into, or the restored server once started."""
        from .conn import connected, resolve
        from .facts import read_heartbeat

        if restored.server is not None:
            with connected(resolve(restored.server)) as c:
                return read_heartbeat(c, system)
        if restored.port is None:  # not started: nothing to ask
            return None
        import redis

        try:
            with redis.Redis(host="127.0.0.1", port=restored.port, socket_connect_timeout=10) as client:
                return read_heartbeat(client, system)
        except redis.RedisError as exc:
            raise DrkitError(" ".join(str(exc).split())[:200]) from None

    def facts(self, config: RedisSource) -> dict[str, Any]:
        from . import facts as redis_facts  # [redis] extra: imported when used
        from .conn import connected, resolve

        with connected(resolve(redis_target(config))) as c:
            return redis_facts.collect(c)

    def write_canary(self, config: RedisSource, job: str) -> None:
        from . import facts as redis_facts
        from .conn import connected, resolve

        with connected(resolve(redis_target(config))) as c:
            redis_facts.write_canary(c, job, int(clock.now() * 1000))

    def backup(self, repo: Repository, config: RedisSource, job: str, tags: list[str]) -> BackupOutcome:
        from .ops import BackupOptions, backup_redis

        options = BackupOptions(target=redis_target(config), aof_dir=config.aof_dir, tags=tuple(tags))
        return BackupOutcome(backup_redis(repo, job, options))

    def daemon_workers(self, jobs: dict[str, Any], ctx: Any) -> list[Any]:
        """``HasDaemonWorkers``: the daemon's AOF archivers (``plugin_daemon``)."""
        from .plugin_daemon import archivers

        return archivers(jobs, ctx)


def _aware(text: str) -> datetime:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


REDIS = RedisKind()
