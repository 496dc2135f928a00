"""Manifest kinds of the Redis source, importable without redis-py (the [redis] extra)."""

from __future__ import annotations

ARCHIVE_KIND = "redis_aof"  # one record per archived AOF segment

__all__ = ["ARCHIVE_KIND"]
