"""Structured log lines of every backup and restore, wherever it runs (a command, ``drkit job run``, the
daemon, a drill's restore): ``<kind> backup started`` and ``<kind> backup finished`` (or ``failed``) from the
logger ``drkit.run``, with ``source_kind``, ``snapshot_id``, ``bytes_added`` where known, ``duration_s`` and
``outcome`` (success, partial, failure) -- at info level, so ``--log-level info`` (or the config's ``log_level``) shows
them; a failure with its redacted one-line reason (also at info level: the error itself is the command's
``drkit: error:`` line, or the daemon's ``failed:`` line).

They come from the same place as the runs' trace spans (``tracing.span("drkit.backup")`` and
``"drkit.restore"``): whatever opens that span logs its run, traced or not.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from . import clock
from .log import redact

log = logging.getLogger("drkit.run")
LOGGED = {"drkit.backup": "backup", "drkit.restore": "restore"}  # span name -> what its log lines call the run
_PREFIX = "drkit."


class _Span(Protocol):
    def __enter__(self) -> Any: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None: ...

    def set(self, **attributes: Any) -> None: ...

    def fail(self, exc: BaseException) -> None: ...


class LoggedRun:
    """A span (live or the no-op) that also logs its run's start and end."""

    def __init__(self, what: str, inner: _Span, attributes: dict[str, Any]) -> None:
        self._what, self._inner = what, inner
        self._fields = _fields(attributes)
        self._t0 = 0.0

    def __enter__(self) -> LoggedRun:
        self._inner.__enter__()
        self._t0 = clock.monotonic()
        log.info("%s started", self._name(), extra=dict(self._fields))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        fields = {**self._fields, "duration_s": round(clock.monotonic() - self._t0, 3)}
        if exc is None:
            # a files backup that skipped or half-read entries (``drkit.warnings``) is partial: exit 3, and the
            # metrics' and the daemon's result="partial"
            partial = self._what == "backup" and bool(self._fields.get("warnings"))
            log.info("%s finished", self._name(), extra={**fields, "outcome": "partial" if partial else "success"})
        else:
            reason = redact(" ".join(str(getattr(exc, "message", None) or exc).split())) or type(exc).__name__
            # info, not warning: the command's `drkit: error:` line (or the daemon's) is what reports it
            log.info("%s failed: %s", self._name(), reason, extra={**fields, "outcome": "failure"})
        self._inner.__exit__(exc_type, exc, tb)

    def _name(self) -> str:
        kind = self._fields.get("source_kind")
        return f"{kind} {self._what}" if kind else self._what

    def set(self, **attributes: Any) -> None:
        self._fields.update(_fields(attributes))
        self._inner.set(**attributes)

    def fail(self, exc: BaseException) -> None:
        self._inner.fail(exc)


def _fields(attributes: dict[str, Any]) -> dict[str, Any]:
    """Span attributes as log fields (``drkit.snapshot_id`` -> ``snapshot_id``); secrets never: the log's
    redaction filter sees every line."""
    return {k.removeprefix(_PREFIX).replace(".", "_"): v for k, v in attributes.items() if v is not None}


__all__ = ["LOGGED", "LoggedRun"]
