"""drkit.core.tracing: spans with the real OpenTelemetry SDK (in-memory exporter), nothing secret in
what is exported, trace ids in log lines, and no SDK import or cost when tracing is off."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from drkit.core import tracing
from drkit.core.errors import DrkitError
from drkit.core.log import register_secret, setup_logging

SECRET = "hunter2-Very-Secret-Passphrase"


def test_off_is_one_shared_noop() -> None:
    assert not tracing.enabled()
    first, second = tracing.span("a", x=1), tracing.span("b")
    assert first is second  # no allocation per span
    with first as s:
        s.set(y=2)
    assert tracing.current_trace_id() is None


def test_spans_nest_and_carry_attributes(exported: InMemorySpanExporter) -> None:
    with tracing.span("outer", **{"drkit.job": "j"}) as outer:
        with tracing.span("inner"):
            pass
        outer.set(**{"drkit.bytes_added": 7, "drkit.retention_applied": None})
    inner, outer_span = exported.get_finished_spans()
    assert (inner.name, outer_span.name) == ("inner", "outer")
    assert inner.parent is not None and inner.parent.span_id == outer_span.context.span_id
    assert dict(outer_span.attributes or {}) == {"drkit.job": "j", "drkit.bytes_added": 7}


def test_no_secret_reaches_a_span(exported: InMemorySpanExporter) -> None:
    register_secret(SECRET)
    with pytest.raises(DrkitError), tracing.span("run", password=SECRET, **{"drkit.repo_token": "abc"}) as s:
        s.set(**{"drkit.url": "s3://user:pw-in-url@host/b", "drkit.note": f"opened with {SECRET}"})
        raise DrkitError(f"cannot open: passphrase {SECRET} rejected")
    (span,) = exported.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert "password" not in attributes and "drkit.repo_token" not in attributes
    assert attributes["drkit.url"] == "s3://user:***@host/b"
    assert attributes["drkit.note"] == "opened with ***"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "cannot open: passphrase *** rejected"
    assert attributes["error.type"] == "DrkitError"
    assert not span.events  # no exception event: its stack trace could hold values
    dumped = span.to_json()
    assert SECRET not in dumped and "pw-in-url" not in dumped


def test_log_lines_carry_the_trace_id(exported: InMemorySpanExporter) -> None:
    out = io.StringIO()
    setup_logging("info", json_output=True, stream=out)
    try:
        with tracing.span("run"):
            logging.getLogger("drkit.test").info("inside")
        logging.getLogger("drkit.test").info("outside")
    finally:
        setup_logging("warning")
    inside, outside = (json.loads(line) for line in out.getvalue().splitlines())
    (span,) = exported.get_finished_spans()
    assert inside["trace_id"] == format(span.context.trace_id, "032x")
    assert "trace_id" not in outside


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_only_an_otlp_endpoint_turns_tracing_on(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], wanted: bool
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert tracing.wanted() is wanted


def test_a_backup_without_otel_environment_never_imports_the_sdk(tmp_path: Path) -> None:
    """Off costs nothing: a whole CLI backup does not import opentelemetry (nor start an exporter)."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_text("x")
    code = (
        "import sys\n"
        "from drkit.cli.main import main\n"
        "def run(*args):\n"
        "    try:\n"
        "        main(list(args))\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, exc.code\n"
        f"run('init', '--repo', {str(tmp_path / 'repo')!r})\n"
        f"run('backup', 'files', '--repo', {str(tmp_path / 'repo')!r}, {str(tmp_path / 'src')!r})\n"
        "from drkit.core import tracing\n"
        "assert not tracing.enabled()\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    env = {**os.environ, "DRKIT_PASSWORD": "test-passphrase"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_an_exception_without_a_message_is_named_by_its_type(exported: InMemorySpanExporter) -> None:
    with pytest.raises(KeyboardInterrupt), tracing.span("run"):
        raise KeyboardInterrupt
    (span,) = exported.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR and span.status.description == "KeyboardInterrupt"


def test_grpc_without_its_exporter_is_one_clear_line_and_no_traces(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: drkit warned that gRPC was unsupported and sent OTLP/HTTP to the endpoint anyway (a collector's
    gRPC port, 4317: every export failed). Now: one line naming the package, and tracing stays off."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.grpc.trace_exporter", None)  # not installed
    try:
        with caplog.at_level(logging.WARNING, logger="drkit.tracing"):
            assert not tracing.setup_tracing("test")
            assert not tracing.enabled()
    finally:
        tracing.shutdown_tracing()
    lines = [r.getMessage() for r in caplog.records if r.name == "drkit.tracing"]
    assert len(lines) == 1 and "opentelemetry-exporter-otlp-proto-grpc" in lines[0], lines
    assert "traces not exported" in lines[0] and "\n" not in lines[0]


def test_grpc_with_its_exporter_installed_exports_over_it(monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = InMemorySpanExporter()
    fake = types.ModuleType("opentelemetry.exporter.otlp.proto.grpc.trace_exporter")
    fake.OTLPSpanExporter = lambda: exporter  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
    try:
        assert tracing.setup_tracing("test")
        with tracing.span("run"):
            pass
    finally:
        tracing.shutdown_tracing()  # flushes the batch into the in-memory exporter
    assert [s.name for s in exporter.get_finished_spans()] == ["run"]
