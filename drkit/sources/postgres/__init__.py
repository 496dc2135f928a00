"""The PostgreSQL source: logical dumps (pg_dump + globals), physical base backups
(pg_basebackup), the WAL archive (wal-push / wal-fetch) and point-in-time recovery.

Modules: ``conn`` (connection parameters, password handling), ``sql`` (every SQL statement drkit
issues itself, over psycopg), ``process`` (running the client tools), ``logical`` (with
``targetdb``: the database restored into, ``roles``: replaying globals without touching existing
roles), ``physical``, ``localbase`` / ``localtree`` (base backups copied from the data directory,
incremental), ``wal``, ``pitr`` (choosing a base backup, recovery config), ``recovery``
(starting a restored server and waiting for its target), ``errors``.

Importing the package needs no psycopg (the [postgres] extra): ``check``, ``forget`` and the WAL
archive helpers use it on a files-only installation. Import ``logical`` and friends from their modules."""

from __future__ import annotations

from .conn import PgConn, connection
from .errors import PostgresError, TargetUnreachable, WalConflict, WalMissing
from .physical import backup_physical
from .pitr import Target
from .wal import Window

__all__ = [
    "PgConn",
    "PostgresError",
    "Target",
    "TargetUnreachable",
    "WalConflict",
    "WalMissing",
    "Window",
    "backup_physical",
    "connection",
]
