"""The conformance suite, unchanged, against every backend: memory, local directory, a real S3 server
(SeaweedFS) and a real GCS emulator (fake-gcs-server), each started by a session fixture."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from servers.fakegcs import FakeGCS

from storage_backends import Backend, Limits, RateLimitedBackend, open_backend, read_range
from storage_backends.testing.conformance import BackendConformance
from storage_backends.testing.memory import MemoryBackend


class TestMemory(BackendConformance):
    holds_objects_in_memory = True

    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        yield MemoryBackend()


class TestLocal(BackendConformance):
    @pytest.fixture
    def backend(self, tmp_path) -> Iterator[Backend]:  # type: ignore[no-untyped-def]
        b = open_backend(str(tmp_path / "store"))
        yield b
        b.close()

    def test_read_range_fills_the_callers_buffer(self, backend: Backend) -> None:
        """The local directory's fast path, through the wrappers open_backend adds: the bytes are
        read into ``buf`` (a restore reuses one buffer per thread), not into new bytes."""
        body = bytes(range(256)) * 4096
        backend.put("ranged", body)
        buf = memoryview(bytearray(8192))
        got = read_range(backend, "ranged", 500_000, 4096, buf)
        assert got.obj is buf.obj
        assert bytes(buf[:4096]) == body[500_000:504_096]


class TestS3(BackendConformance):
    """SeaweedFS via ``weed server -s3``: one bucket, a fresh prefix per test."""

    @pytest.fixture
    def backend(self, seaweedfs_server, monkeypatch) -> Iterator[Backend]:  # type: ignore[no-untyped-def]
        seaweedfs_server.apply_env(monkeypatch)
        bucket = seaweedfs_server.make_bucket("drkit-conformance")
        b = open_backend(seaweedfs_server.url(bucket, fresh_prefix()))
        yield b
        b.close()


class TestGCS(BackendConformance):
    """fake-gcs-server; one session bucket, a fresh prefix per test."""

    @pytest.fixture
    def backend(self, fakegcs_server: FakeGCS, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", fakegcs_server.endpoint)
        fakegcs_server.make_bucket("conformance")
        b = open_backend(f"gs://conformance/{fresh_prefix()}?project={fakegcs_server.project}")
        yield b
        b.close()


FAST = Limits(1 << 30, 1 << 30)  # 1 GiB/s each way: the wrapper's code paths, without waiting


def _limited(url: str) -> Backend:
    backend = open_backend(url, limits=FAST)
    assert isinstance(backend.inner, RateLimitedBackend)  # type: ignore[attr-defined]
    return backend


class TestLimitedLocal(BackendConformance):
    """The same contract through the bandwidth-limit wrapper (--limit-upload/--limit-download)."""

    @pytest.fixture
    def backend(self, tmp_path) -> Iterator[Backend]:  # type: ignore[no-untyped-def]
        b = _limited(str(tmp_path / "store"))
        yield b
        b.close()


class TestLimitedS3(BackendConformance):
    @pytest.fixture
    def backend(self, seaweedfs_server, monkeypatch) -> Iterator[Backend]:  # type: ignore[no-untyped-def]
        seaweedfs_server.apply_env(monkeypatch)
        b = _limited(seaweedfs_server.url(seaweedfs_server.make_bucket("drkit-conformance"), fresh_prefix()))
        yield b
        b.close()


class TestLimitedGCS(BackendConformance):
    @pytest.fixture
    def backend(self, fakegcs_server: FakeGCS, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", fakegcs_server.endpoint)
        fakegcs_server.make_bucket("conformance")
        b = _limited(f"gs://conformance/{fresh_prefix()}?project={fakegcs_server.project}")
        yield b
        b.close()


def fresh_prefix() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"
