"""Structured logging: JSON lines with the extras when stderr is not a terminal, readable lines
when it is, and no registered secret or credential pattern ever in the output -- not in the
message, its arguments, the extras or a traceback."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from drkit.core.log import MASK, redact, register_secret, setup_logging

SECRET = "s3cr3t-Passphrase-91c2"  # registered by the tests below


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Put the root logger back as it was (setup_logging changes its handlers and level)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.NOTSET)


def _capture(tty: bool = False, level: str = "debug", json_output: bool | None = None) -> _Stream:
    stream = _Stream(tty)
    setup_logging(level, json_output=json_output, stream=stream)
    return stream


def _lines(stream: _Stream) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_registered_secret_never_appears_in_msg_args_or_extra(root_logging: None) -> None:
    register_secret(SECRET)
    out = _capture()
    log = logging.getLogger("drkit.test")
    log.info(f"passphrase is {SECRET}")
    log.warning("connecting with %s and %r", SECRET, {"pw": SECRET})
    log.error("failed", extra={"job": "pg", "detail": f"auth {SECRET} rejected", "nested": {"a": [SECRET]}})
    text = out.getvalue()
    assert SECRET not in text
    assert text.count(MASK) >= 5
    last = _lines(out)[-1]
    assert last["detail"] == f"auth {MASK} rejected" and last["nested"] == {"a": [MASK]}


def test_secret_in_a_traceback_is_redacted(root_logging: None) -> None:
    register_secret(SECRET)
    out = _capture()
    try:
        raise RuntimeError(f"could not open with {SECRET}")
    except RuntimeError:
        logging.getLogger("drkit.test").exception("boom")
    doc = _lines(out)[-1]
    assert "RuntimeError" in str(doc["exc"]) and SECRET not in out.getvalue()


def test_json_mode_is_parseable_with_the_extras(root_logging: None) -> None:
    out = _capture(tty=False, level="info")
    log = logging.getLogger("drkit.scheduler")
    log.debug("not shown at info")
    log.info(
        "backup finished",
        extra={"job": "pg", "run_id": "0123456789ab", "snapshot_id": "f" * 64, "duration_s": 1.25, "bytes_added": 42},
    )
    (doc,) = _lines(out)
    assert doc["msg"] == "backup finished" and doc["level"] == "info" and doc["logger"] == "drkit.scheduler"
    assert doc["job"] == "pg" and doc["run_id"] == "0123456789ab" and doc["snapshot_id"] == "f" * 64
    assert doc["duration_s"] == 1.25 and doc["bytes_added"] == 42
    assert str(doc["ts"]).endswith("Z") and "T" in str(doc["ts"])


def test_a_terminal_gets_readable_lines(root_logging: None) -> None:
    out = _capture(tty=True, level="info")
    logging.getLogger("drkit.scheduler").info("backup finished", extra={"job": "pg", "duration_s": 1.5})
    line = out.getvalue().strip()
    assert not line.startswith("{")
    assert "INFO" in line and "drkit.scheduler: backup finished" in line and "job=pg duration_s=1.5" in line


def test_json_output_can_be_forced_either_way(root_logging: None) -> None:
    out = _capture(tty=True, json_output=True)
    logging.getLogger("x").warning("w")
    assert _lines(out)[0]["msg"] == "w"


def test_calling_setup_twice_keeps_one_handler(root_logging: None) -> None:
    _capture()
    out = _capture()
    logging.getLogger("x").warning("once")
    assert len(_lines(out)) == 1


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("dsn postgresql://backup:pg-Pass-123@db.internal:5432/app", "pg-Pass-123"),
        ("redis://:r3dis-pw@127.0.0.1:6379/0", "r3dis-pw"),
        ("dsn postgresql://backup:pa/ss-w0rd@db.internal/app", "ss-w0rd"),  # an unencoded slash
        ("redis://:r3/dis-pw@127.0.0.1:6379/0", "dis-pw"),
        ("libpq: host=db password=hunter2xyz user=app", "hunter2xyz"),
        ("env AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG plus more", "wJalrXUtnFEMI/K7MDENG"),
        ("GET /x?token=abc123def&x=1", "abc123def"),
        ('{"password": "json-pw-77", "user": "u"}', "json-pw-77"),
        ("PGPASSWORD='quoted pw' pg_dump", "quoted pw"),
    ],
)
def test_credential_patterns_are_redacted(text: str, leak: str) -> None:
    out = redact(text)
    assert leak not in out and MASK in out


def test_harmless_text_is_left_alone() -> None:
    text = "wrong password: no key opens the repository at http://host:8080/path (job=pg)"
    assert redact(text) == text


def test_short_values_are_not_registered(root_logging: None) -> None:
    register_secret("ab")
    register_secret("")
    register_secret(None)
    out = _capture()
    logging.getLogger("x").warning("tab and cab")
    assert _lines(out)[0]["msg"] == "tab and cab"


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        setup_logging("verbose")
