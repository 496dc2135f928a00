"""The ``mysql`` source kind as the registry sees it (entry point ``drkit.sources: mysql``): a job's
``source:`` model, what a job run calls, the CLI, and the drill hook."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import click
from pydantic import BaseModel, Field

from ...repository.repo import Repository
from ..logarchives import ArchiveSpec
from ..registry import BackupOutcome, CliHost, DrillReport, DrillRequest, SourceConfig
from .conn import MysqlConn, password_from
from .dump import backup_dump
from .errors import MysqlUsage
from .facts import collect, write_canary


class MysqlSource(SourceConfig):
    """A job's ``source:`` for ``kind: mysql``."""

    kind: Literal["mysql"]
    url: str = Field(pattern=r"^(mysql|mariadb)://", description="mysql://USER@HOST:PORT/DATABASE, no password.")
    password_env: str | None = Field(default=None, description="Environment variable holding the password.")
    password_file: Path | None = Field(default=None, description="File whose first line is the password.")
    pitr: bool = Field(
        default=False,
        description="Record each dump's binary-log position (needs RELOAD), so "
        "`drkit restore mysql --point-in-time` can start from it.",
    )

    def conn(self) -> MysqlConn:
        conn = MysqlConn.from_url(self.url)
        if not conn.database:
            raise MysqlUsage(f"source url {conn.display}: name the database in the URL's path")
        if self.password_env and not os.environ.get(self.password_env):
            raise MysqlUsage(f"environment variable {self.password_env} (the source's password_env) is not set")
        password = (
            password_from(self.password_file, self.password_env) if (self.password_file or self.password_env) else None
        )
        return conn.with_password(password)


class MysqlKind:
    name = "mysql"
    config_model: type[BaseModel] = MysqlSource
    archive_label = "binlog"

    def archives(self, config: MysqlSource) -> bool:
        return config.pitr  # its binary logs are archived (`drkit mysql binlog-archive --name` the job's name)

    def newest_archived(self, repo: Repository, config: MysqlSource, job: str) -> float | None:
        from .binlog import covered_until

        return covered_until(repo, config.name or job)

    def log_archives(self) -> list[ArchiveSpec]:
        from .binlog_log import archive_spec

        return [archive_spec()]

    def describe(self, config: MysqlSource) -> str:
        conn = MysqlConn.from_url(config.url)
        return f"mysql {conn.display} database {conn.database}"

    def facts(self, config: MysqlSource) -> dict[str, Any]:
        conn = config.conn()
        return collect(conn, conn.database or "")

    def write_canary(self, config: MysqlSource, job: str) -> None:
        conn = config.conn()
        write_canary(conn, conn.database or "", job)

    def backup(self, repo: Repository, config: MysqlSource, job: str, tags: list[str]) -> BackupOutcome:
        snap = backup_dump(repo, config.conn(), name=config.name or job, tags=tags, binlog_position=config.pitr)
        return BackupOutcome(snap)

    def commands(self, host: CliHost) -> dict[str, click.Command]:
        from .cli import commands

        return commands(host)

    def drill(self, request: DrillRequest) -> DrillReport:
        from .drill import drill

        return drill(request)


MYSQL = MysqlKind()
