"""The environment drkit hands to the programs it runs (pg_dump, pg_restore, pg_basebackup,
initdb, …): the caller's, without drkit's own secrets.

A child needs none of them, and anything in a process's environment can be read back from
``/proc/PID/environ`` by its user and by root, and is inherited by everything it starts. Removed:

- any variable whose name says it holds a secret (``PASSWORD``, ``PASSWD``, ``PASSPHRASE``,
  ``SECRET``, ``TOKEN``, ``CREDENTIAL``, ``ACCESS_KEY``, ``PRIVATE_KEY``, ``AUTH``, any case):
  ``DRKIT_PASSWORD``, ``DRKIT_NEW_PASSWORD``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
  ``GOOGLE_APPLICATION_CREDENTIALS``, ``REDISCLI_AUTH``, …;
- any variable whose value drkit registered as a secret (a config secret reference such as
  ``password: {env: MY_DB_PW}`` names a variable of any name);
- the OpenTelemetry settings (``OTEL_*``): ``OTEL_EXPORTER_OTLP_HEADERS`` holds the collector's token,
  and a child does not trace (a sandbox PostgreSQL's ``drkit pg wal-fetch`` would wait on the collector
  for every segment, as docs/operations.md warns).

``keep`` names survive (libpq's own ``PGPASSWORD``/``PGPASSFILE`` for the PostgreSQL tools, which
need them); ``extra`` is added last (a password for the one child that needs it)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from .log import is_registered_secret

_SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|CREDENTIAL|ACCESS_KEY|PRIVATE_KEY|AUTH", re.IGNORECASE
)


def is_secret_name(name: str) -> bool:
    return _SECRET_NAME.search(name) is not None


def child_environ(
    *, keep: Iterable[str] = (), extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``base`` (default ``os.environ``) without secrets, then ``extra``."""
    kept = set(keep)
    source = os.environ if base is None else base
    env = {
        name: value
        for name, value in source.items()
        if name in kept or not (is_secret_name(name) or name.startswith("OTEL_") or is_registered_secret(value))
    }
    env.update(extra or {})
    return env


__all__ = ["child_environ", "is_secret_name"]
