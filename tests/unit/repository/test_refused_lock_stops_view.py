"""A lock refused (another holder) while the index view it started reading ahead (drkit-ahead, to save a
round trip) is still being read: the refusal stops that read and waits for it, so nothing reads the
repository after the error surfaces (it used to read on, on its own thread, after the error line)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from backends.recording import Call, RecordingBackend

from drkit.core.errors import LockFailed
from drkit.repository import ahead
from drkit.repository import repo as repo_mod
from drkit.repository.format import RepoConfig
from drkit.repository.locks import Lock
from drkit.repository.repo import Repository
from drkit.repository.streams import SourceRef, backup_stream
from storage_backends import Backend, ObjectInfo
from storage_backends.testing.memory import MemoryBackend


class _Held(RecordingBackend):
    """The read ahead's listing of pending marks is held until ``release()`` is true (polled)."""

    def __init__(self, inner: Backend, calls: list[Call], release: Callable[[], bool]) -> None:
        super().__init__(inner, calls)
        self.release = release

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if prefix == "manifests/pending/":
            deadline = time.monotonic() + 60
            while not self.release() and time.monotonic() < deadline:
                time.sleep(0.01)
        return super().list(prefix)


def _ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(("drkit-ahead", "drkit-view"))]


def test_a_refused_lock_leaves_no_read_running(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryBackend()
    setup = Repository.init(store, "pw", RepoConfig())
    with setup.lock(purpose="backup"):
        backup_stream(setup, SourceRef("stdin", "s"), io.BytesIO(b"data" * 1000))
    holder = Repository.open(store, "pw", load_index=False).lock(exclusive=True, purpose="key rotate")
    holder.acquire()
    started: list[ahead.Ahead[object]] = []

    class Noted(ahead.Ahead[object]):
        def __init__(self) -> None:
            super().__init__()
            started.append(self)

    monkeypatch.setattr(repo_mod, "Ahead", Noted)
    error_seen = threading.Event()
    calls: list[Call] = []
    # held until the refusal stopped the read ahead; a refusal that does not stop it: until the error is seen
    backend = _Held(store, calls, lambda: error_seen.is_set() or any(a.stop.is_set() for a in started))
    repo = Repository.open(backend, "pw")
    try:
        with pytest.raises(LockFailed):
            repo.lock(purpose="backup").acquire()
        at_error = len(calls)
    finally:
        error_seen.set()
        holder.release()
    deadline = time.monotonic() + 60
    while _ahead_threads() and time.monotonic() < deadline:  # a thread finishing after its future is done
        time.sleep(0.01)
    assert not _ahead_threads()
    assert started and started[0].stop.is_set()
    assert [c.key for c in calls[at_error:]] == []  # nothing read after the error
    assert not any(c.call == "list" and c.key == "index/" for c in calls)  # the view stopped before its end


def test_a_refusal_interrupted_while_it_waits_still_removes_its_lock_object() -> None:
    """Ctrl-C while the refusal waits for the read ahead (``on_refused``, a slow remote read): the lock
    object written is still deleted, not left to block other commands until it turns stale (30 min)."""
    store = MemoryBackend()
    holder = Lock(store, exclusive=True, purpose="prune")
    holder.acquire()

    def interrupted() -> None:
        raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            Lock(store, exclusive=False, purpose="backup", on_refused=interrupted).acquire()
        assert [i.key for i in store.list("locks/")] == [holder.key]
    finally:
        holder.release()
