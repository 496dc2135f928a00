"""Test-wide isolation: no DRKIT_* or cloud credentials from the caller's environment leak in,
HOME and caches are private, the test-only storage backends are on, and the KDF is weakened so unit tests stay fast."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TEST_BACKENDS = ("DRKIT_TEST_BACKENDS", "1")  # memory:// and faulty+… exist only for the tests
os.environ.setdefault(*TEST_BACKENDS)  # also at collection time, and in every drkit subprocess
_SCRUB_PREFIXES = ("DRKIT_", "AWS_", "GOOGLE_", "STORAGE_EMULATOR_HOST", "PG", "REDISCLI_", "OTEL_")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in list(os.environ):
        if name.startswith(_SCRUB_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("DRKIT_KDF_MEMORY_KIB", "256")  # real Argon2id, cheap: every CLI call derives a key
    monkeypatch.setenv("DRKIT_RESERVE_MIB", "0")  # no 32 MiB space reserve per test repository (test_full_disk)
    monkeypatch.setenv(*TEST_BACKENDS)  # memory:// and faulty+ exist only for the tests
    from drkit.core import concurrency  # the command line's --workers/--connections of an in-process CLI call

    monkeypatch.setattr(concurrency, "_override", [concurrency.Tuning()])  # do not outlive its test


# Real servers (started once per session, on free loopback ports, stopped at the end).
pytest_plugins = [
    "servers.seaweedfs",
    "servers.fakegcs",
    "servers.postgres",
    "servers.redis",
    "servers.redis_cluster",
    "servers.docker",
    "servers.mariadb",
]


@pytest.fixture
def exported() -> Iterator[Any]:
    """Spans drkit finishes, kept in memory (the OpenTelemetry SDK's exporter; drkit[otel])."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from drkit.core import tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider, "test")
    try:
        yield exporter
    finally:
        tracing.shutdown_tracing()


@pytest.fixture
def o_direct_dir(tmp_path: Path) -> Path:
    """``tmp_path``, for tests that check writes go out with O_DIRECT: skipped where its filesystem
    refuses O_DIRECT (ramfs; tmpfs before Linux 6.6, a common /tmp), as the local store then writes
    through the page cache, rightly."""
    import fcntl
    import mmap

    if not hasattr(os, "O_DIRECT"):
        pytest.skip("no O_DIRECT on this platform")
    probe, buf = os.path.join(str(tmp_path), ".o_direct_probe"), mmap.mmap(-1, mmap.PAGESIZE)
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_DIRECT)
        os.write(fd, buf)
    except OSError as exc:
        pytest.skip(f"the test directory's filesystem refuses O_DIRECT: {exc.strerror}")
    finally:
        os.close(fd)
        os.unlink(probe)
        buf.close()
    return tmp_path
