"""Sampled spans around storage calls (drkit/repository/traced.py), with the real OpenTelemetry SDK and its
in-memory exporter: none and no wrapper when tracing is off or the ratio is 0; every N-th call when on; calls
of the upload workers (threads without a current span) stay in the run's trace; a failed call's span is an
error; a listing's span counts what it yielded."""

from __future__ import annotations

import random

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from drkit.core import tracing
from drkit.core.errors import UsageError
from drkit.pipeline import ChunkerParams, chunk_buffer
from drkit.repository.format import RepoConfig
from drkit.repository.repo import Repository
from drkit.repository.traced import RATIO_ENV, TracedBackend, storage_ratio
from drkit.repository.writer import BlobWriter
from storage_backends import NotFound
from storage_backends.testing.memory import MemoryBackend

SMALL = ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=5)


class _Counting(MemoryBackend):
    """A memory backend that counts the calls that reach it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def put(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        self.calls += 1
        super().put(*args, **kwargs)  # type: ignore[arg-type]

    def put_if_absent(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        self.calls += 1
        super().put_if_absent(*args, **kwargs)  # type: ignore[arg-type]


def _write(repo: Repository, seed: int = 1, size: int = 1 << 20) -> None:
    data = random.Random(seed).randbytes(size)
    with BlobWriter(repo=repo) as writer:
        for chunk in chunk_buffer(data, SMALL):
            writer.add_data(bytes(chunk))
        writer.flush()


def _repo(backend: MemoryBackend) -> Repository:
    return Repository.init(backend, "pw", RepoConfig(chunker=SMALL, pack_size=64 << 10))


def _storage(exporter: InMemorySpanExporter) -> list:  # type: ignore[type-arg]
    return [s for s in exporter.get_finished_spans() if s.name.startswith("drkit.storage.")]


def test_off_no_wrapper_and_no_span() -> None:
    backend = MemoryBackend()
    repo = _repo(backend)
    assert repo.backend is backend  # not even a wrapper when tracing is off


def test_ratio_zero_no_wrapper(exported: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RATIO_ENV, "0")
    backend = MemoryBackend()
    repo = _repo(backend)
    assert repo.backend is backend
    _write(repo)
    assert _storage(exported) == []


def test_every_call_at_ratio_one_and_worker_calls_stay_in_the_run_trace(
    exported: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RATIO_ENV, "1")
    backend = _Counting()
    with tracing.span("drkit.backup"):
        repo = _repo(backend)
        assert isinstance(repo.backend, TracedBackend)
        before = backend.calls  # Repository.init's own calls come before the wrapper
        _write(repo)
    puts = [s for s in _storage(exported) if s.name in ("drkit.storage.put", "drkit.storage.put_if_absent")]
    assert len(puts) == backend.calls - before > 10  # packs (uploaded by worker threads) and index objects
    (root,) = [s for s in exported.get_finished_spans() if s.name == "drkit.backup"]
    assert {s.context.trace_id for s in puts} == {root.context.trace_id}
    runs = {s.context.span_id: s.name for s in exported.get_finished_spans() if not s.name.startswith("drkit.storage.")}
    parents = {s.parent.span_id if s.parent is not None else None for s in puts}
    assert parents <= set(runs) and root.context.span_id in parents, (parents, runs)  # none a trace of its own
    pack = next(s for s in puts if str(s.attributes.get("drkit.storage.key", "")).startswith("data/"))
    assert pack.attributes["drkit.storage.bytes"] > 0 and pack.attributes["drkit.storage.sample_every"] == 1


def test_one_call_in_n(exported: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RATIO_ENV, "0.25")
    backend = _Counting()
    with tracing.span("drkit.backup"):
        repo = _repo(backend)
        before = backend.calls
        _write(repo)
    assert isinstance(repo.backend, TracedBackend)
    calls = backend.calls - before  # only puts happen while writing
    assert calls >= 8
    assert len(_storage(exported)) == calls // 4
    assert {s.attributes["drkit.storage.sample_every"] for s in _storage(exported)} == {4}


def test_failed_call_and_listing(exported: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RATIO_ENV, "1")
    inner = MemoryBackend()
    inner.put("data/aa", b"x")
    inner.put("data/bb", b"yy")
    backend = TracedBackend(inner, every=1, parent=tracing.context())
    with tracing.span("run"):
        with pytest.raises(NotFound):
            backend.get("data/missing")
        assert [i.key for i in backend.list("data/")] == ["data/aa", "data/bb"]
        assert backend.get_range("data/bb", 0, 1) == b"y"
    by_name = {s.name: s for s in _storage(exported)}
    assert by_name["drkit.storage.get"].status.status_code is StatusCode.ERROR
    assert by_name["drkit.storage.list"].attributes["drkit.storage.objects"] == 2
    assert by_name["drkit.storage.get_range"].attributes["drkit.storage.bytes"] == 1


@pytest.mark.parametrize("value", ["2", "-0.1", "lots", "nan"])
def test_bad_ratio_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(RATIO_ENV, value)
    with pytest.raises(UsageError, match=RATIO_ENV):
        storage_ratio()


def test_default_ratio_is_low(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RATIO_ENV, raising=False)
    assert 0 < storage_ratio() <= 0.01
