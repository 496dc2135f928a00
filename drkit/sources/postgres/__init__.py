"""The PostgreSQL source: logical dumps (pg_dump + globals), physical base backups
(pg_basebackup), the WAL archive (wal-push / wal-fetch) and point-in-time recovery.

Modules: ``conn`` (connection parameters, password handling), ``sql`` (every SQL statement drkit
issues itself, over psycopg), ``process`` (running the client tools), ``logical`` (with
``targetdb``: the database restored into, ``roles``: replaying globals without touching existing
roles), ``physical``, ``wal``, ``pitr`` (choosing a base backup, recovery config), ``recovery``
(starting a restored server and waiting for its target), ``errors``."""

from __future__ import annotations

from .conn import PgConn, connection
from .errors import PostgresError, TargetUnreachable, WalConflict, WalMissing
from .logical import LogicalOutcome, LogicalRestore, backup_logical, restore_logical
from .physical import backup_physical
from .pitr import Target
from .wal import Window

__all__ = [
    "LogicalOutcome",
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
