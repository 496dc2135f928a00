"""The ``redis`` source kind as the registry sees it (entry point ``drkit.sources: redis``): what a job
run calls. A slice of the jobs layer inside the Redis package (ARCHITECTURE.md, "source packages"):
it adapts a job's ``source:`` (``drkit.config.RedisSource``) and its connection (``drkit.jobs.connect``)
to the package's use cases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from ...config import RedisSource
from ...core import clock
from ...jobs.connect import redis_target
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ..registry import BackupOutcome


class RedisKind:
    name = "redis"
    config_model: type[BaseModel] = RedisSource
    context_drill = "drkit.sources.redis.drills.drill:drill_redis"

    def describe(self, config: RedisSource) -> str:
        return f"redis {config.url or config.master_name}"

    def local_drill(self, config: RedisSource) -> str | None:
        return None  # a redis container when Docker is reachable, else a local redis-server

    def catalog_points(
        self, repo: Repository, config: RedisSource, job: str, snaps: list[Snapshot]
    ) -> list[datetime]:
        """The job's AOF windows and those of the AOF archive its source ``name`` records."""
        from .ops import redis_windows  # the [redis] extra: only for this kind

        return [_aware(row["to"]) for name in dict.fromkeys(n for n in (job, config.name) if n)
                for row in redis_windows(repo, name) if row["kind"] != "rdb"]

    def plan_system_component(self, repo: Repository, job: str, config: RedisSource, target: datetime) -> Any:
        from ...jobs.system_plan import plan_redis

        return plan_redis(repo, job, config, target)

    def write_heartbeat(self, config: RedisSource, key: str, at: datetime) -> None:
        from . import facts as redis_facts  # [redis] extra: imported when used
        from .conn import connected, resolve

        with connected(resolve(redis_target(config))) as c:
            redis_facts.write_canary(c, key, round(at.timestamp() * 1000))

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


def _aware(text: str) -> datetime:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


REDIS = RedisKind()
