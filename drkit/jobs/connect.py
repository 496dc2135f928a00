"""From config to connections: the job's repository, PostgreSQL connection and Redis target, with
secrets read from their references only here, at the moment they are used."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ..config import DrkitConfig, JobConfig
from ..core.concurrency import Tuning
from ..ops.session import Limits, open_repository
from ..repository.repo import Repository
from ..sources.postgres.config import PostgresSource
from ..sources.postgres.conn import PgConn
from ..sources.redis.config import RedisSource

if TYPE_CHECKING:
    from ..sources.redis.conn import RedisTarget


def open_job_repository(config: DrkitConfig, job: JobConfig, *, load_index: bool = True) -> tuple[Repository, str]:
    """The job's repository, opened; and its URL."""
    repo_cfg = config.repositories[job.repository]
    secret = repo_cfg.passphrase.as_passphrase_source()
    limits = Limits.kib(repo_cfg.limit_upload, repo_cfg.limit_download)
    repo = open_repository(repo_cfg.url, secret, load_index=load_index, retry_for=repo_cfg.retry_for, limits=limits)
    repo.tuning = Tuning(workers=repo_cfg.workers, connections=repo_cfg.connections)  # --workers etc. win
    return repo, repo_cfg.url


def pg_conn(source: PostgresSource) -> PgConn:
    conn = PgConn.from_url(source.dsn)
    if source.password is not None:
        conn = PgConn(
            host=conn.host,
            port=conn.port,
            user=conn.user,
            dbname=conn.dbname,
            password=source.password.reveal(),
            options=conn.options,
        )
    return conn


def redis_target(source: RedisSource) -> RedisTarget:
    from ..sources.redis.conn import make_target  # the [redis] extra, imported when used

    target = make_target(source.url, sentinels=tuple(source.sentinels), master_name=source.master_name)
    if source.password is not None:  # keeps the Sentinels (a new RedisTarget dropped them)
        target = dataclasses.replace(target, password=source.password.reveal())
    return target
