"""Structured logs on stderr, with every secret taken out.

``setup_logging(level)`` installs one handler on the root logger: JSON lines (``ts``, ``level``,
``logger``, ``msg``, plus every ``extra=`` field such as ``job``, ``run_id``, ``snapshot_id``,
``duration_s``) when stderr is not a terminal, a readable one-line format when it is.

A redaction filter runs on every record before it is formatted. It replaces, in the message, its
arguments, the extras and the traceback text:

- every value handed to ``register_secret`` (called wherever drkit reads a secret: passphrases,
  database and Redis passwords), and
- credentials written in the usual shapes: ``scheme://user:PASSWORD@``, ``redis://:PASSWORD@``,
  ``password=…``, ``AWS_SECRET_ACCESS_KEY=…``, ``token=…`` (any ``*password*``, ``*secret*``,
  ``*token*`` or ``*access_key*`` name followed by ``=``), and ``"password": "…"`` in JSON,

with ``***``. Values shorter than ``MIN_SECRET_LENGTH`` are not registered: replacing every
occurrence of a two-letter string would make logs unreadable and hide nothing.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

MASK = "***"
_QUIET_LIBRARIES = ("botocore", "boto3", "s3transfer", "urllib3", "google", "google_auth_httplib2")
MIN_SECRET_LENGTH = 4
LEVELS = ("debug", "info", "warning", "error")

_secrets: set[str] = set()
_trace_id_source: Callable[[], str | None] | None = None  # set by drkit.core.tracing while traces are on
_secrets_lock = threading.Lock()
_secret_re: re.Pattern[str] | None = None

# the password runs to the last "@" before whitespace: an unencoded "/" in it (libpq and redis-py accept one)
# must not end the match early; masking too much is harmless
_URL_CREDENTIALS = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)[^\s@]+@")
_KEY_VALUE = re.compile(
    r"(\b[A-Za-z_-]*(?:password|passwd|secret|token|access_key)[A-Za-z_-]*\s*=\s*)"
    r"(\"[^\"]*\"|'[^']*'|[^\s&,;'\"]+)",
    re.IGNORECASE,
)
_JSON_FIELD = re.compile(
    r"(\"[A-Za-z_-]*(?:password|passwd|secret|token)[A-Za-z_-]*\"\s*:\s*)\"[^\"]*\"", re.IGNORECASE
)

# every attribute a plain LogRecord has: anything else on a record came from ``extra=``
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


def register_secret(value: str | None) -> None:
    """Never log ``value``: every later record has it replaced by ``***``."""
    global _secret_re
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    with _secrets_lock:
        if value in _secrets:
            return
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)  # longest first: a secret containing another
        _secret_re = re.compile("|".join(re.escape(s) for s in ordered))


def is_registered_secret(value: str) -> bool:
    """True when ``value`` was handed to ``register_secret`` (for scrubbing child environments)."""
    with _secrets_lock:
        return value in _secrets


def redact(text: str) -> str:
    """``text`` with registered secrets and credential patterns replaced by ``***``."""
    pattern = _secret_re
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _URL_CREDENTIALS.sub(rf"\g<1>{MASK}@", text)
    text = _KEY_VALUE.sub(rf"\g<1>{MASK}", text)
    return _JSON_FIELD.sub(rf'\g<1>"{MASK}"', text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


def set_trace_id_source(source: Callable[[], str | None] | None) -> None:
    """Where log lines get the current trace id (``trace_id``) from; None: no trace ids."""
    global _trace_id_source
    _trace_id_source = source


def extras(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a record got through ``extra=``, and ``trace_id`` inside a traced span."""
    fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}
    source = _trace_id_source
    if source is not None and "trace_id" not in fields:
        trace_id = source()
        if trace_id is not None:
            fields["trace_id"] = trace_id
    return fields


class RedactingFilter(logging.Filter):
    """Formats the message once, redacted, and redacts extras and traceback text in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # bad %-arguments: keep the template, drop the arguments
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        for key, value in extras(record).items():
            setattr(record, key, _redact_value(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the extras, and ``exc`` for a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in extras(record).items():
            doc.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exc"] = record.exc_text
        return json.dumps(doc, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``16:37:03 INFO    drkit.scheduler: backup finished job=pg run_id=… duration_s=1.2``."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        fields = " ".join(f"{k}={v}" for k, v in extras(record).items())
        line = f"{when} {record.levelname:<7} {record.name}: {record.getMessage()}" + (f" {fields}" if fields else "")
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        return f"{line}\n{record.exc_text}" if record.exc_text else line


class _DrkitHandler(logging.StreamHandler[TextIO]):
    """Marks the handler ``setup_logging`` installed, so a second call replaces it."""


def setup_logging(level: str, *, json_output: bool | None = None, stream: TextIO | None = None) -> None:
    """Log at ``level`` (debug, info, warning, error) to ``stream`` (default: stderr) as JSON lines,
    or as readable lines when ``json_output`` is false (default: readable only on a terminal)."""
    name = level.lower()
    if name not in LEVELS:
        raise ValueError(f"unknown log level {level!r} (known: {', '.join(LEVELS)})")
    out = stream if stream is not None else sys.stderr
    as_json = json_output if json_output is not None else not _is_tty(out)
    handler = _DrkitHandler(out)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _DrkitHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    numeric = getattr(logging, name.upper())
    root.setLevel(numeric)
    # APScheduler announces every run at info; ours say more, so its own only from warning up
    logging.getLogger("apscheduler").setLevel(numeric if numeric == logging.DEBUG else logging.WARNING)
    # at debug botocore logs request headers (``Authorization``, signed URLs) and urllib3 the URLs with
    # their query strings: these libraries stay at WARNING whatever drkit's own level
    for noisy in _QUIET_LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


__all__ = [
    "MASK",
    "JsonFormatter",
    "RedactingFilter",
    "TextFormatter",
    "extras",
    "is_registered_secret",
    "redact",
    "register_secret",
    "set_trace_id_source",
    "setup_logging",
]
