"""The retry wrapper's window (issue 20): retried for a time, not for boto's three tries; a store that
never answered fails at once; a full disk is never retried; each retry is one warning without secrets.
A fake clock and sleep: no real waiting."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest

from storage_backends import (
    BackendError,
    NoSpace,
    RetryingBackend,
    RetryPolicy,
    Transient,
    Unreachable,
    configure_retry,
    open_backend,
)
from storage_backends.local import LocalBackend
from storage_backends.testing.memory import MemoryBackend


class Clock:
    def __init__(self) -> None:
        self.t = 0.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.t += seconds

    def now(self) -> float:
        return self.t


class DownFor(MemoryBackend):
    """Fails ``stat`` with ``error`` until the fake clock reaches ``until``."""

    def __init__(self, clock: Clock, until: float, error: type[BackendError]) -> None:
        super().__init__()
        self.clock, self.until, self.error, self.calls = clock, until, error, 0

    def stat(self, key: str):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.clock.now() < self.until:
            raise self.error("cannot reach the S3 endpoint (EndpointConnectionError)", backend="s3://b/p", key=key)
        return super().stat(key)


def _wrapped(inner: MemoryBackend, clock: Clock, window: float = 300.0) -> RetryingBackend:
    return RetryingBackend(inner, RetryPolicy(window=window), sleep=clock.sleep, monotonic=clock.now)


def test_a_store_down_for_a_minute_is_waited_for(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    inner = DownFor(clock, 60.0, Unreachable)
    inner.put("config", b"x")
    backend = _wrapped(inner, clock)
    inner.until = -1.0
    backend.stat("config")  # the store answered once: from now on, unreachable is an outage
    inner.until = clock.t + 60.0
    with caplog.at_level(logging.WARNING, logger="storage_backends.retry"):
        assert backend.stat("config").size == 1
    assert 60.0 <= clock.t < 60.0 + 30.0 and max(clock.waits) <= 30.0  # backoff capped at 30 s
    assert len(caplog.records) == inner.calls - 2  # one warning per retry
    assert "s3://b/p key 'config'" in caplog.records[0].getMessage()
    assert "retrying in" in caplog.records[0].getMessage()


def test_an_outage_longer_than_the_window_raises_the_last_error_at_its_end() -> None:
    clock = Clock()
    inner = DownFor(clock, 10_000.0, Transient)
    backend = _wrapped(inner, clock, window=120.0)
    with pytest.raises(Transient):
        backend.stat("config")
    assert clock.t == pytest.approx(120.0)  # the last wait is cut to what the window had left
    assert inner.calls > 5


def test_a_store_that_never_answered_fails_at_once() -> None:
    clock = Clock()
    inner = DownFor(clock, 10_000.0, Unreachable)
    with pytest.raises(Unreachable):
        _wrapped(inner, clock).stat("config")
    assert inner.calls == 1 and clock.t == 0.0


def test_attempts_from_the_environment_still_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRKIT_RETRY_ATTEMPTS", "2")
    clock = Clock()
    inner = DownFor(clock, 10_000.0, Transient)
    backend = RetryingBackend(inner, RetryPolicy.from_env(), sleep=clock.sleep, monotonic=clock.now)
    with pytest.raises(Transient):
        backend.stat("config")
    assert inner.calls == 2


def test_the_command_line_window_wins_over_the_configured_one() -> None:
    assert RetryPolicy.from_env().window == 300.0
    assert RetryPolicy.from_env(20.0).window == 20.0
    configure_retry(5.0)
    try:
        assert RetryPolicy.from_env(20.0).window == 5.0
    finally:
        configure_retry(None)


class _Raising(LocalBackend):
    def __init__(self, root: Path, code: int) -> None:
        super().__init__(root)
        self.code, self.calls = code, 0

    def stat(self, key: str):  # type: ignore[no-untyped-def]
        def fail() -> None:
            self.calls += 1
            raise OSError(self.code, "simulated")

        return self._guard(key, fail)


def test_local_full_disk_is_final_and_a_stale_mount_is_retried(tmp_path: Path) -> None:
    clock = Clock()
    full = _Raising(tmp_path / "a", errno.ENOSPC)
    with pytest.raises(NoSpace):
        RetryingBackend(full, RetryPolicy(window=60), sleep=clock.sleep, monotonic=clock.now).stat("k")
    assert full.calls == 1 and clock.t == 0.0
    stale = _Raising(tmp_path / "b", errno.ESTALE)
    with pytest.raises(Transient):
        RetryingBackend(stale, RetryPolicy(window=60), sleep=clock.sleep, monotonic=clock.now).stat("k")
    assert stale.calls > 2 and clock.t == pytest.approx(60.0)


def test_open_backend_uses_the_window(tmp_path: Path) -> None:
    backend = open_backend(str(tmp_path / "r"), retry=RetryPolicy(window=7.0))
    assert isinstance(backend, RetryingBackend) and backend.policy.window == 7.0


def test_a_repositorys_configured_window_reaches_its_backend(tmp_path: Path) -> None:
    from drkit.config import ConfigError, load_config
    from drkit.ops.session import open_repository
    from drkit.repository.repo import Repository

    doc = f"repositories:\n  main:\n    url: {tmp_path}/r\n    passphrase: {{env: PW}}\n    retry_for: 90s\n"
    (tmp_path / "drkit.yaml").write_text(doc)
    cfg = load_config(tmp_path / "drkit.yaml").repositories["main"]
    assert cfg.retry_for == 90.0
    Repository.init(open_backend(cfg.url), "pw-for-the-test").close()
    repo = open_repository(cfg.url, "pw-for-the-test", retry_for=cfg.retry_for)
    try:
        assert isinstance(repo.backend, RetryingBackend) and repo.backend.policy.window == 90.0
    finally:
        repo.close()
    (tmp_path / "drkit.yaml").write_text(doc.replace("90s", "1mo"))
    with pytest.raises(ConfigError) as refused:  # a calendar month is no length of time
        load_config(tmp_path / "drkit.yaml")
    assert any("retry_for" in problem for problem in refused.value.problems)
