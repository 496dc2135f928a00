"""Repository locks: conflicts, staleness, removal, refresh and loss, on memory and local backends."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drkit.core import clock
from drkit.core.errors import LockFailed
from drkit.repository import holder as holder_mod
from drkit.repository.holder import Holder, proc_stat, this_process
from drkit.repository.locks import LOCK_PREFIX, Lock, LockInfo, is_stale, list_locks, remove_locks
from storage_backends.base import Backend, Data, PutOptions
from storage_backends.errors import Transient
from storage_backends.local import LocalBackend
from storage_backends.testing.memory import MemoryBackend

T0 = 1_700_000_000.0


@pytest.fixture(params=["memory", "local"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return MemoryBackend() if request.param == "memory" else LocalBackend(tmp_path / "repo")


@pytest.fixture
def fake_clock() -> Iterator[list[float]]:
    """A settable wall clock; ``now[0] = ...`` moves time. Restored afterwards."""
    now = [T0]
    clock.set_clock(lambda: now[0])
    yield now
    clock.set_clock(None)


@pytest.fixture
def held() -> Iterator[Callable[[Lock], Lock]]:
    """Acquire a lock and make sure it is released (and its thread stopped) at teardown."""
    locks: list[Lock] = []

    def take(lock: Lock) -> Lock:
        lock.acquire()
        locks.append(lock)
        return lock

    yield take
    for lock in locks:
        lock.release()


def write_foreign(
    backend: Backend,
    *,
    exclusive: bool,
    expires: float,
    host: str = "elsewhere",
    pid: int = 1,
    holder: Holder | None = None,
) -> str:
    key = f"{LOCK_PREFIX}{'f' * 32}"
    doc: dict[str, object] = dict(
        host=host, pid=pid, username="someone", exclusive=exclusive, created=expires - 60, expires=expires
    )
    if holder is not None:
        doc.update(
            machine_id=holder.machine_id, boot_id=holder.boot_id, pid_ns=holder.pid_ns, start_time=holder.start_time
        )
    backend.put(key, json.dumps(doc).encode())
    return key


def dead_pid() -> int:
    with subprocess.Popen(["true"]) as proc:
        proc.wait()
    return proc.pid


def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``cond``; the bound only matters on a loaded machine (normally a few ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def test_describe_is_one_readable_line() -> None:
    info = LockInfo(
        key="locks/x", host="host", pid=123, username="root", exclusive=True, created=T0 - 42, expires=T0 + 1740
    )
    assert info.describe(T0) == "exclusive lock by root@host pid 123, 42 s old, expires in 1740 s"
    shared = LockInfo(
        key="locks/y", host="h\nost", pid=1, username="u", exclusive=False, created=T0, expires=T0 - 5, purpose="backup"
    )
    assert shared.describe(T0) == "shared lock (backup) by u@h?ost pid 1, 0 s old, expired 5 s ago"


def test_lock_object_is_plain_json(backend: Backend, held: Callable[[Lock], Lock]) -> None:
    lock = held(Lock(backend, exclusive=True, purpose="prune"))
    assert lock.key is not None and lock.key.startswith(LOCK_PREFIX) and len(lock.key) == len(LOCK_PREFIX) + 32
    with backend.get(lock.key) as stream:
        doc = json.loads(stream.read())
    assert set(doc) == {
        "host",
        "pid",
        "username",
        "exclusive",
        "created",
        "expires",
        "purpose",
        "view",
        "machine_id",
        "boot_id",
        "pid_ns",
        "start_time",
    }
    machine = Path("/etc/machine-id").read_text().strip()
    assert machine not in json.dumps(doc)  # an app-specific HMAC of it, as systemd asks
    assert doc["pid"] == os.getpid() and doc["exclusive"] is True and doc["purpose"] == "prune"
    assert doc["expires"] == pytest.approx(doc["created"] + 1800.0)


def test_shared_locks_coexist(backend: Backend, held: Callable[[Lock], Lock]) -> None:
    held(Lock(backend, exclusive=False))
    held(Lock(backend, exclusive=False))
    assert len(list_locks(backend)) == 2


@pytest.mark.parametrize(("first", "second"), [(False, True), (True, False), (True, True)])
def test_exclusive_conflicts(backend: Backend, held: Callable[[Lock], Lock], first: bool, second: bool) -> None:
    holder = held(Lock(backend, exclusive=first))
    with pytest.raises(LockFailed) as caught:
        Lock(backend, exclusive=second).acquire()
    err = caught.value
    assert err.exit_code == 11
    assert "\n" not in str(err)
    assert f"{socket.gethostname()} pid {os.getpid()}" in str(err)
    assert ("exclusive lock" if first else "shared lock") in str(err)
    assert err.hint is not None and err.hint.startswith("drkit unlock removes stale locks")
    assert [info.key for info in list_locks(backend)] == [holder.key]  # the loser removed its object


def test_release_removes_object_and_is_idempotent(backend: Backend) -> None:
    lock = Lock(backend, exclusive=True)
    lock.acquire()
    assert len(list_locks(backend)) == 1
    lock.release()
    lock.release()
    assert list_locks(backend) == []
    with Lock(backend, exclusive=True):
        pass


def test_context_manager_releases_on_exception(backend: Backend) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with Lock(backend, exclusive=False) as lock:
            assert lock.key is not None
            raise RuntimeError("boom")
    assert list_locks(backend) == []


def test_expired_lock_is_stale_and_does_not_block(backend: Backend, fake_clock: list[float]) -> None:
    write_foreign(backend, exclusive=True, expires=T0 + 100)
    [info] = list_locks(backend)
    assert not is_stale(info, T0)
    with pytest.raises(LockFailed):
        Lock(backend, exclusive=False).acquire()
    fake_clock[0] = T0 + 101
    assert is_stale(info, clock.now())
    with Lock(backend, exclusive=True):
        assert len(list_locks(backend)) == 2


def test_lock_of_dead_local_process_is_stale(backend: Backend) -> None:
    pid = dead_pid()
    here = this_process()
    write_foreign(backend, exclusive=True, expires=clock.now() + 1000, host=socket.gethostname(), pid=pid, holder=here)
    [info] = list_locks(backend)
    assert info.holder == here and is_stale(info, clock.now())
    with Lock(backend, exclusive=True):
        pass


@pytest.mark.parametrize("field", ["machine_id", "boot_id", "pid_ns"])
def test_dead_pid_elsewhere_is_judged_by_expiry_only(backend: Backend, field: str) -> None:
    """The same host name but another machine, boot or PID namespace: the pid says nothing."""
    other = dataclasses.replace(this_process(), **{field: "somewhere-else"})
    write_foreign(
        backend, exclusive=True, expires=clock.now() + 1000, host=socket.gethostname(), pid=dead_pid(), holder=other
    )
    [info] = list_locks(backend)
    assert not is_stale(info, clock.now())
    assert remove_locks(backend) == []
    with pytest.raises(LockFailed):
        Lock(backend, exclusive=False).acquire()


def test_no_machine_id_in_a_container_still_proves_a_dead_pid(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Containers often lack /etc/machine-id: boot id and PID namespace decide; a lock from a machine
    that has one never matches ours then."""
    monkeypatch.setattr(holder_mod, "_ours", None)
    monkeypatch.setattr(holder_mod, "_MACHINE_ID_FILES", ())
    here = this_process()
    assert here.machine_id == "" and here.known
    write_foreign(backend, exclusive=True, expires=clock.now() + 1000, pid=dead_pid(), holder=here)
    assert is_stale(list_locks(backend)[0], clock.now())
    write_foreign(
        backend,
        exclusive=True,
        expires=clock.now() + 1000,
        pid=dead_pid(),
        holder=dataclasses.replace(here, machine_id="m" * 32),
    )
    assert not is_stale(list_locks(backend)[0], clock.now())
    monkeypatch.setattr(holder_mod, "_ours", None)


def test_lock_without_holder_fields_is_judged_by_expiry_only(backend: Backend) -> None:
    """An older drkit's lock (host and pid only) on our host name, pid not running: maybe alive elsewhere."""
    write_foreign(backend, exclusive=True, expires=clock.now() + 1000, host=socket.gethostname(), pid=dead_pid())
    [info] = list_locks(backend)
    assert not info.holder.known and not is_stale(info, clock.now())
    assert remove_locks(backend) == []


def test_reused_pid_and_zombie_are_dead(backend: Backend) -> None:
    here = this_process()
    write_foreign(
        backend,
        exclusive=True,
        expires=clock.now() + 1000,
        pid=os.getpid(),
        holder=dataclasses.replace(here, start_time=here.start_time + 1),
    )  # our pid, another start
    assert is_stale(list_locks(backend)[0], clock.now())
    proc = subprocess.Popen(["true"])
    try:
        assert wait_for(lambda: (proc_stat(proc.pid) or ("Z",))[0] == "Z")  # exited, not reaped
        started = proc_stat(proc.pid)
        start = started[1] if started else 0
        write_foreign(
            backend,
            exclusive=True,
            expires=clock.now() + 1000,
            pid=proc.pid,
            holder=dataclasses.replace(here, start_time=start),
        )
        assert is_stale(list_locks(backend)[0], clock.now())
    finally:
        proc.wait()


def test_own_lock_records_where_it_runs(backend: Backend, held: Callable[[Lock], Lock]) -> None:
    held(Lock(backend, exclusive=False))
    [info] = list_locks(backend)
    assert info.holder == this_process() and info.holder.known and info.holder.start_time > 0
    assert not is_stale(info, clock.now())
    assert remove_locks(backend) == []


def test_remove_locks_stale_by_default_all_on_request(
    backend: Backend, fake_clock: list[float], held: Callable[[Lock], Lock]
) -> None:
    stale = write_foreign(backend, exclusive=False, expires=T0 - 1)
    live = held(Lock(backend, exclusive=False))
    assert [info.key for info in remove_locks(backend)] == [stale]
    assert [info.key for info in list_locks(backend)] == [live.key]
    assert [info.key for info in remove_locks(backend, all_locks=True)] == [live.key]
    assert list_locks(backend) == []


def test_garbled_lock_is_stale_and_removable(backend: Backend, caplog: pytest.LogCaptureFixture) -> None:
    backend.put(f"{LOCK_PREFIX}garbled", b"\x00not json")
    backend.put(f"{LOCK_PREFIX}nan", b'{"host":"h","pid":1,"username":"u","exclusive":true,"created":0,"expires":NaN}')
    with caplog.at_level(logging.WARNING):
        infos = list_locks(backend)
    assert len(infos) == 2 and all(is_stale(info, clock.now()) for info in infos)
    assert "unreadable" in caplog.text
    with Lock(backend, exclusive=True):
        pass
    assert len(remove_locks(backend)) == 2


def test_refresh_moves_expiry_forward(backend: Backend, held: Callable[[Lock], Lock]) -> None:
    lock = held(Lock(backend, exclusive=False, lifetime=10.0, refresh_every=0.05))
    [before] = list_locks(backend)
    assert wait_for(lambda: list_locks(backend)[0].expires > before.expires)
    assert not lock.lost


class FlakyPuts:
    """Delegates to a MemoryBackend; ``put`` raises while ``failing`` is set. Counts puts."""

    def __init__(self) -> None:
        self.inner = MemoryBackend()
        self.display = self.inner.display
        self.capabilities = self.inner.capabilities
        self.failing = False
        self.failed_puts = 0
        self.good_puts = 0

    def put(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        if self.failing:
            self.failed_puts += 1
            raise Transient("injected failure", backend=self.display, key=key)
        self.inner.put(key, data, options)
        self.good_puts += 1

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_lost_when_refresh_fails_past_expiry(fake_clock: list[float], caplog: pytest.LogCaptureFixture) -> None:
    backend = FlakyPuts()
    lock = Lock(backend, exclusive=True, lifetime=100.0, refresh_every=0.02)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING):
        lock.acquire()
        try:
            backend.failing = True
            assert wait_for(lambda: backend.failed_puts >= 1)
            assert not lock.lost  # failed, but the expiry has not passed yet
            fake_clock[0] = T0 + 101
            seen = backend.failed_puts
            assert wait_for(lambda: backend.failed_puts > seen)
            assert lock.lost
            backend.failing = False
            assert wait_for(lambda: backend.good_puts >= 1)
            assert lock.lost  # a late successful refresh does not undo the loss
        finally:
            lock.release()
    assert "could not refresh lock" in caplog.text and "injected failure" in caplog.text
    assert list(backend.inner.list(LOCK_PREFIX)) == []


def test_kept_alive_by_refresh(fake_clock: list[float]) -> None:
    backend = FlakyPuts()
    lock = Lock(backend, exclusive=True, lifetime=100.0, refresh_every=0.02)  # type: ignore[arg-type]
    lock.acquire()
    try:
        fake_clock[0] = T0 + 50
        seen = backend.good_puts
        assert wait_for(lambda: backend.good_puts > seen)  # refreshed at T0+50: expires T0+150
        fake_clock[0] = T0 + 120
        assert not lock.lost
        assert not is_stale(list_locks(backend)[0], clock.now())  # type: ignore[arg-type]
    finally:
        lock.release()
