"""The Redis source: remote RDB over the replication protocol, host-local multi-part AOF
directories, continuous AOF archiving, restore to a directory or a running server, and
point-in-time restore from AOF timestamp annotations.

Modules: ``conn`` (URLs, credentials, Sentinel), ``rdb`` (SYNC transfer), ``aof`` (manifest,
settings), ``backup`` (snapshots and archive records), ``catalog`` (what the repository holds),
``pitr`` (planning and truncation), ``restore`` (directories, ``--to-url``), ``process``
(throwaway redis-server), ``errors``.
"""

from __future__ import annotations

from .errors import RedisAuthFailed, RedisSettingsError, RedisSourceError, RedisUnreachable
from .kinds import ARCHIVE_KIND

# Importing the package needs no redis-py (the [redis] extra): retention and copy read the AOF
# archive's records on a files-only installation. RedisTarget and make_target live in ``conn``.
__all__ = ["ARCHIVE_KIND", "RedisAuthFailed", "RedisSettingsError", "RedisSourceError", "RedisUnreachable"]
