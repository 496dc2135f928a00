"""``storage_backends.warm_up`` is a best-effort hint called by every repository open (repository/unlock.py):
a backend's ``warm_up`` that fails (a plugin whose method of that name wants arguments, a thread that cannot
start) must never fail the command, and must not print the error's text (it may name an endpoint or a key)."""

from __future__ import annotations

import logging

import pytest

from drkit.repository.repo import Repository
from storage_backends import RetryingBackend, RetryPolicy, warm_up
from storage_backends.testing.memory import MemoryBackend


class _FailingWarmUp(MemoryBackend):
    calls = 0

    def warm_up(self) -> None:
        type(self).calls += 1
        raise RuntimeError("can't start new thread (secret-token-123)")


class _WantsArguments(MemoryBackend):
    def warm_up(self, region: str) -> None:  # a plugin's own method of that name, not the hook
        raise AssertionError("not called with the plugin's arguments")


def test_a_failing_warm_up_is_ignored_through_the_wrappers(caplog: pytest.LogCaptureFixture) -> None:
    backend = _FailingWarmUp()
    with caplog.at_level(logging.DEBUG):
        warm_up(RetryingBackend(backend, RetryPolicy()))
    assert _FailingWarmUp.calls == 1
    assert "secret-token-123" not in caplog.text


def test_the_open_succeeds_when_the_warm_up_fails() -> None:
    store = _FailingWarmUp()
    Repository.init(store, "pw").close()
    Repository.open(store, "pw").close()
    store2 = _WantsArguments()
    Repository.init(store2, "pw").close()
    Repository.open(store2, "pw").close()
