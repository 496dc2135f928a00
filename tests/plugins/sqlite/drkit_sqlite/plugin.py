"""The ``sqlite`` kind as drkit's registry sees it (entry point ``drkit.sources: sqlite``): a job's
``source:`` model, what a job run calls, the commands and the drill hook."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import click
from pydantic import BaseModel, Field

from drkit.repository.repo import Repository
from drkit.sources.registry import BackupOutcome, CliHost, DrillReport, DrillRequest, SourceConfig

from . import database


class SqliteSource(SourceConfig):
    """A job's ``source:`` for ``kind: sqlite``."""

    kind: Literal["sqlite"]
    path: Path = Field(description="The database file.")


class SqliteKind:
    name = "sqlite"
    config_model: type[BaseModel] = SqliteSource

    def describe(self, config: SqliteSource) -> str:
        return f"sqlite {config.path}"

    def facts(self, config: SqliteSource) -> dict[str, Any]:
        return {"row_counts": database.source_row_counts(config.path)}

    def write_canary(self, config: SqliteSource, job: str) -> None:
        database.write_canary(config.path, job)

    def backup(self, repo: Repository, config: SqliteSource, job: str, tags: list[str]) -> BackupOutcome:
        snap = database.backup_database(repo, config.path, name=config.name or job, tags=tags)
        return BackupOutcome(snap)

    def commands(self, host: CliHost) -> dict[str, click.Command]:
        from .cli import commands

        return commands(host)

    def drill(self, request: DrillRequest) -> DrillReport:
        from .drill import drill

        return drill(request)


SQLITE = SqliteKind()
