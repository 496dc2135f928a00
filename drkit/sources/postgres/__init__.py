"""The PostgreSQL source: logical dumps (pg_dump + globals), physical base backups
(pg_basebackup), the WAL archive (wal-push / wal-fetch) and point-in-time recovery.

Modules: ``conn`` (connection parameters, password handling), ``process`` (running the client
tools), ``logical``, ``physical``, ``wal``, ``pitr`` (choosing a base backup, recovery config),
``recovery`` (starting a restored server and waiting for its target), ``errors``."""

from __future__ import annotations

from .conn import PgConn, connection
from .errors import PostgresError, TargetUnreachable, WalConflict, WalMissing
from .logical import LogicalRestore, backup_logical, restore_logical
from .physical import backup_physical
from .pitr import Target
from .wal import Window

__all__ = [
    "LogicalRestore",
    "PgConn",
    "PostgresError",
    "Target",
    "TargetUnreachable",
    "WalConflict",
    "WalMissing",
    "Window",
    "backup_logical",
    "backup_physical",
    "connection",
    "restore_logical",
]
