"""OpenTelemetry traces of drkit's runs, off unless the standard ``OTEL_*`` environment asks for them.

``setup_tracing(version)`` turns tracing on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set (and neither ``OTEL_SDK_DISABLED=true`` nor
``OTEL_TRACES_EXPORTER=none`` says otherwise): spans go over OTLP/HTTP (protobuf; gRPC when
``OTEL_EXPORTER_OTLP_PROTOCOL=grpc`` and its exporter is installed) in batches, the SDK
reading the rest of the ``OTEL_*`` variables itself (headers, timeout, sampler, service name).
The SDK is the optional extra ``drkit[otel]``; asked for without it, one warning and no traces.

``span(name, **attributes)`` opens a span, child of the current one. When tracing is off it returns
one shared no-op object: no import of the SDK, no allocation, no export. Attribute values pass
through the log redaction (``log.redact``) and attributes whose key names a secret are dropped; an
exception sets the span's status to error with its redacted one-line message (no traceback: its
frames may hold values), so nothing secret reaches a collector.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .log import redact, set_trace_id_source
from .runlog import LOGGED, LoggedRun

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger("drkit.tracing")

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_SECRET_KEY = re.compile(r"password|passwd|passphrase|secret|token|access_key|credential|auth", re.IGNORECASE)
_MAX_VALUE = 1024

_tracer: Tracer | None = None
_provider: TracerProvider | None = None


class _NoSpan:
    """What ``span`` gives when tracing is off: accepts everything, does nothing."""

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set(self, **attributes: Any) -> None:
        return None

    def fail(self, exc: BaseException) -> None:
        return None

    def end_at(self, end_ns: int) -> None:
        return None


_NO_SPAN = _NoSpan()
NO_SPAN = _NO_SPAN  # for callers that decide themselves not to trace a call (sampling)


def wanted() -> bool:
    """Whether the environment asks for traces (an OTLP endpoint, and the SDK not disabled)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(os.environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def setup_tracing(version: str) -> bool:
    """Export spans over OTLP/HTTP when the environment asks for it; True when tracing is on."""
    if _tracer is not None or not wanted():
        return _tracer is not None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "traces not exported: OTEL_EXPORTER_OTLP_ENDPOINT is set but drkit[otel] is not installed "
            "(pip install 'drkit[otel]')"
        )
        return False
    exporter = _grpc_exporter() if _protocol().startswith("grpc") else OTLPSpanExporter()
    if exporter is None:
        return False
    provider = TracerProvider(resource=_resource(version))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    use_provider(provider, version)
    return True


def _protocol() -> str:
    name = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    return name.strip().lower()


GRPC_PACKAGE = "opentelemetry-exporter-otlp-proto-grpc"


def _grpc_exporter() -> Any:
    """OTLP over gRPC when asked for (``OTEL_EXPORTER_OTLP_PROTOCOL=grpc``) and its exporter is installed: not
    part of ``drkit[otel]`` (it brings grpcio, a large native package, and every collector also speaks
    OTLP/HTTP on 4318). Without it: one warning and no traces -- HTTP sent to a gRPC port would fail unseen."""
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        log.warning(
            "traces not exported: OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs the package %s, which is not installed "
            "(pip install %s), or set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf and point the endpoint at the "
            "collector's HTTP port (4318)",
            GRPC_PACKAGE,
            GRPC_PACKAGE,
        )
        return None
    return OTLPSpanExporter()


def _resource(version: str) -> Any:
    from opentelemetry.sdk.resources import Resource

    # Resource.create merges OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES over these defaults
    return Resource.create({"service.name": "drkit", "service.version": version})


def use_provider(provider: TracerProvider, version: str = "") -> None:
    """Send spans to ``provider`` (``setup_tracing``'s, or a test's with an in-memory exporter)."""
    global _tracer, _provider
    _provider, _tracer = provider, provider.get_tracer("drkit", version or None)
    set_trace_id_source(current_trace_id)


def shutdown_tracing() -> None:
    """Export what is still buffered (bounded by ``OTEL_EXPORTER_OTLP_TIMEOUT``) and turn tracing off."""
    global _tracer, _provider
    provider, _provider, _tracer = _provider, None, None
    set_trace_id_source(None)
    if provider is not None:
        provider.shutdown()


def rename_current(name: str) -> None:
    """Give the current span a better name once it is known (the root span: the command run)."""
    if _tracer is not None:
        from opentelemetry import trace

        trace.get_current_span().update_name(name)


def enabled() -> bool:
    return _tracer is not None


def span(name: str, **attributes: Any) -> _NoSpan | _LiveSpan | LoggedRun:
    """A span ``name`` under the current one (``with span("drkit.backup", **{"drkit.job": j}) as s:``);
    ``s.set(...)`` adds attributes later. A no-op when tracing is off. A backup's or restore's span also
    logs the run's start and end (core/runlog.py), traced or not."""
    inner: _NoSpan | _LiveSpan = _NO_SPAN if _tracer is None else _LiveSpan(_tracer, name, attributes)
    if name in LOGGED:
        return LoggedRun(LOGGED[name], inner, attributes)
    return inner


class _LiveSpan:
    def __init__(self, tracer: Tracer, name: str, attributes: dict[str, Any]) -> None:
        self._tracer, self._name, self._attributes = tracer, name, attributes
        self._cm: Any = None
        self._span: Span | None = None

    def __enter__(self) -> _LiveSpan:
        self._cm = _started(self._tracer, self._name)
        self._span = self._cm.__enter__()
        self.set(**self._attributes)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            self.fail(exc)
        self._cm.__exit__(None, None, None)

    def fail(self, exc: BaseException) -> None:
        """Status error with the exception's redacted one-line message (a run that handles its failure)."""
        if self._span is None:
            return
        from opentelemetry.trace import Status, StatusCode

        message = str(getattr(exc, "message", None) or exc) or type(exc).__name__
        self._span.set_status(Status(StatusCode.ERROR, redact(" ".join(message.split()))[:_MAX_VALUE]))
        self._span.set_attribute("error.type", type(exc).__name__)

    def set(self, **attributes: Any) -> None:
        if self._span is None:
            return
        for key, value in attributes.items():
            clean = _attribute(key, value)
            if clean is not None:
                self._span.set_attribute(key, clean)


@contextmanager
def _started(tracer: Tracer, name: str) -> Iterator[Span]:
    with tracer.start_as_current_span(name, record_exception=False, set_status_on_exception=False) as live:
        yield live


def _attribute(key: str, value: Any) -> str | bool | int | float | None:
    """A value safe to export: secrets' keys dropped, strings redacted and bounded, None left out."""
    if value is None or _SECRET_KEY.search(key):
        return None
    if isinstance(value, bool | int | float):
        return value
    return redact(str(value))[:_MAX_VALUE]


def context() -> object | None:
    """The current trace context, to parent ``leaf_span``s started later in other threads (the upload and
    download workers, which do not inherit it); None when tracing is off."""
    if _tracer is None:
        return None
    from opentelemetry import context as otel_context

    return otel_context.get_current()


def leaf_span(name: str, parent: object | None = None, **attributes: Any) -> _NoSpan | _LeafSpan:
    """A span without children (a storage call): a child of the current span, or, in a thread without one, of
    ``parent`` (a ``context()``). It is never made current, so it may end in another frame (a listing that ends
    when its consumer stops iterating). A no-op when tracing is off."""
    if _tracer is None:
        return _NO_SPAN
    return _LeafSpan(_tracer, name, parent, attributes)


class _LeafSpan(_LiveSpan):
    def __init__(self, tracer: Tracer, name: str, parent: object | None, attributes: dict[str, Any]) -> None:
        super().__init__(tracer, name, attributes)
        self._parent = parent

    def __enter__(self) -> _LeafSpan:
        from opentelemetry import trace

        current = trace.get_current_span().get_span_context().is_valid
        parent: Any = None if current else self._parent
        self._span = self._tracer.start_span(
            self._name, context=parent, record_exception=False, set_status_on_exception=False
        )
        self.set(**self._attributes)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            self.fail(exc)
        if self._span is not None:
            self._span.end()


def timed_span(name: str, start_ns: int, **attributes: Any) -> _NoSpan | _TimedSpan:
    """Like ``span``, but begun at ``start_ns`` (``time.time_ns()`` of an instant already past) and ended at
    the instant given to ``s.end_at(ns)`` (else when it closes): a drill's phases, each of which begins where
    the one before it ended, so that their spans tile the drill's RTO exactly. A no-op when tracing is off."""
    if _tracer is None:
        return _NO_SPAN
    return _TimedSpan(_tracer, name, start_ns, attributes)


class _TimedSpan(_LiveSpan):
    def __init__(self, tracer: Tracer, name: str, start_ns: int, attributes: dict[str, Any]) -> None:
        super().__init__(tracer, name, attributes)
        self._start_ns = start_ns
        self._end_ns: int | None = None

    def __enter__(self) -> _TimedSpan:
        self._cm = self._tracer.start_as_current_span(
            self._name,
            start_time=self._start_ns,
            end_on_exit=False,
            record_exception=False,
            set_status_on_exception=False,
        )
        self._span = self._cm.__enter__()
        self.set(**self._attributes)
        return self

    def end_at(self, end_ns: int) -> None:
        self._end_ns = end_ns

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        super().__exit__(exc_type, exc, tb)  # status, and the span no longer current (it is not ended there)
        if self._span is not None:
            self._span.end(end_time=self._end_ns)


def current_trace_id() -> str | None:
    """The current span's trace id (32 hex digits), for log lines; None outside a span or when off."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


__all__ = [
    "NO_SPAN",
    "context",
    "current_trace_id",
    "leaf_span",
    "enabled",
    "rename_current",
    "setup_tracing",
    "shutdown_tracing",
    "span",
    "timed_span",
    "use_provider",
    "wanted",
]
