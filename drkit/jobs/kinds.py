"""The built-in source kinds files and PostgreSQL registered in the ``drkit.sources`` entry-point
group (see :mod:`drkit.sources.registry`): thin adapters from a job's ``source:`` to the ops calls
that ``drkit backup`` makes. They live here, above ``ops`` and ``config``, because the built-in
config models and use cases do; a new kind keeps all of this inside its own package."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..config import FilesSource, PostgresSource
from ..core import clock
from ..ops.files import BackupRequest, backup_files
from ..repository.repo import Repository
from ..sources.files import BackupOptions as FilesOptions
from ..sources.files import Excludes
from ..sources.files import canary as files_canary
from ..sources.redis.plugin import REDIS as _REDIS
from ..sources.registry import BackupOutcome
from .connect import pg_conn


class FilesKind:
    name = "files"
    config_model: type[BaseModel] = FilesSource

    def describe(self, config: FilesSource) -> str:
        return "files " + " ".join(config.paths)

    def facts(self, config: FilesSource) -> dict[str, Any]:
        return {}  # a files snapshot's tree is its own record

    def write_canary(self, config: FilesSource, job: str) -> None:
        files_canary.write(config.paths[0], job, clock.utcnow())

    def backup(self, repo: Repository, config: FilesSource, job: str, tags: list[str]) -> BackupOutcome:
        options = FilesOptions(Excludes.load(list(config.exclude)), config.one_file_system)
        result = backup_files(repo, BackupRequest(list(config.paths), options, tags, name=job))
        return BackupOutcome(result.snapshot, list(result.warnings))


class PostgresKind:
    name = "postgres"
    config_model: type[BaseModel] = PostgresSource

    def describe(self, config: PostgresSource) -> str:
        return f"postgres {pg_conn(config).display} ({config.mode})"

    def facts(self, config: PostgresSource) -> dict[str, Any]:
        from ..sources.postgres import facts as pg_facts  # [postgres] extra: imported when used

        conn = pg_conn(config)
        dbs = [conn.dbname or "postgres"] if config.mode == "logical" else None
        return pg_facts.collect(conn, dbs)

    def write_canary(self, config: PostgresSource, job: str) -> None:
        from ..sources.postgres import canary as pg_canary

        pg_canary.write(pg_conn(config), job)

    def backup(self, repo: Repository, config: PostgresSource, job: str, tags: list[str]) -> BackupOutcome:
        from ..ops.postgres import backup_postgres

        snap = backup_postgres(repo, pg_conn(config), logical_mode=config.mode == "logical", name=job, tags=tags)
        return BackupOutcome(snap)


FILES, POSTGRES = FilesKind(), PostgresKind()

# a stale editable install's entry point still names drkit.jobs.kinds:REDIS (pip install -e . refreshes it)
REDIS = _REDIS
