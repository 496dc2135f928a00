"""The ``redis`` source kind as the registry sees it (entry point ``drkit.sources: redis``): what a job
run calls. A slice of the jobs layer inside the Redis package (ARCHITECTURE.md, "source packages"):
it adapts a job's ``source:`` (``drkit.config.RedisSource``) and its connection (``drkit.jobs.connect``)
to the package's use cases."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ...config import RedisSource
from ...core import clock
from ...jobs.connect import redis_target
from ...repository.repo import Repository
from ..registry import BackupOutcome


class RedisKind:
    name = "redis"
    config_model: type[BaseModel] = RedisSource

    def describe(self, config: RedisSource) -> str:
        return f"redis {config.url or config.master_name}"

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


REDIS = RedisKind()
