"""Redis source errors. Exit codes: 14 for an unreachable server, a refused login or a server lost
mid-transfer (like storage: "unreachable or access denied"); 2 for a server whose settings do not
allow the requested operation; 1 for anything else that stops the run. Messages name the server by
its display form (no password), never a credential."""

from __future__ import annotations

from ...core.errors import DrkitError


class RedisSourceError(DrkitError):
    exit_code = 1


class RedisUnreachable(RedisSourceError):
    exit_code = 14


class RedisAuthFailed(RedisSourceError):
    exit_code = 14


class RedisSettingsError(RedisSourceError):
    exit_code = 2


__all__ = ["RedisAuthFailed", "RedisSettingsError", "RedisSourceError", "RedisUnreachable"]
