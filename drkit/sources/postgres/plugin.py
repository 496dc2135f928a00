"""The ``postgres`` source kind as the registry sees it (entry point ``drkit.sources: postgres``): what a
job run calls. A slice of the jobs layer inside the PostgreSQL package (ARCHITECTURE.md, "source
packages"): it adapts a job's ``source:`` (``drkit.config.PostgresSource``) and its connection
(``drkit.jobs.connect``) to the package's use cases."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ...config import PostgresSource
from ...jobs.connect import pg_conn
from ...repository.repo import Repository
from ..registry import BackupOutcome


class PostgresKind:
    name = "postgres"
    config_model: type[BaseModel] = PostgresSource

    def describe(self, config: PostgresSource) -> str:
        return f"postgres {pg_conn(config).display} ({config.mode})"

    def facts(self, config: PostgresSource) -> dict[str, Any]:
        from . import facts as pg_facts  # [postgres] extra: imported when used

        conn = pg_conn(config)
        dbs = [conn.dbname or "postgres"] if config.mode == "logical" else None
        return pg_facts.collect(conn, dbs)

    def write_canary(self, config: PostgresSource, job: str) -> None:
        from . import canary as pg_canary

        pg_canary.write(pg_conn(config), job)

    def backup(self, repo: Repository, config: PostgresSource, job: str, tags: list[str]) -> BackupOutcome:
        from .ops import backup_postgres

        snap = backup_postgres(repo, pg_conn(config), logical_mode=config.mode == "logical", name=job, tags=tags)
        return BackupOutcome(snap)


POSTGRES = PostgresKind()
