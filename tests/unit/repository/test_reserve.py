"""The space reserve (repository/reserve.py) on a store with a byte quota: maintenance locks release it
while held and write it back, readers go on without a lock object, and a repository without a reserve
gets a hint. The quota store is a memory backend that refuses a put past its capacity (NoSpace) and
frees what is deleted, as a full disk does."""

from __future__ import annotations

import pytest

from drkit.core.errors import LockFailed, StorageError
from drkit.repository.locks import LOCK_PREFIX, Lock
from drkit.repository.reserve import (
    MIN_PIECE,
    MaintenanceLock,
    ReaderLock,
    create_reserve,
    find,
    reserve_key,
    write_reserve,
)
from storage_backends.base import Data, PutOptions, as_stream
from storage_backends.errors import NoSpace
from storage_backends.testing.memory import MemoryBackend

TARGET = 1 << 20


class QuotaBackend(MemoryBackend):
    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def used(self) -> int:
        return sum(info.size for info in self.list(""))

    def _fits(self, key: str, data: Data) -> bytes:
        body = as_stream(data).read()
        old = next((i.size for i in self.list(key) if i.key == key), 0)
        if self.used() - old + len(body) > self.capacity:
            raise NoSpace("no space left on device", backend=self.display, key=key)
        return body

    def put(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        super().put(key, self._fits(key, data), options)

    def put_if_absent(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        super().put_if_absent(key, self._fits(key, data), options)


def full_store(reserve: bool = True) -> QuotaBackend:
    store = QuotaBackend(4 * TARGET)
    if reserve:
        create_reserve(store, TARGET)
    store.put("data/filler", b"x" * (store.capacity - store.used()))
    return store


def reserve_size(store: QuotaBackend) -> int | None:
    found = find(store)
    return None if found is None else found.size


def locks(store: QuotaBackend) -> list[str]:
    return [i.key for i in store.list(LOCK_PREFIX)]


def test_maintenance_lock_uses_the_reserve_and_writes_it_back() -> None:
    store = full_store()
    with pytest.raises(StorageError):
        Lock(store, exclusive=False).acquire()  # a plain lock finds no room
    with MaintenanceLock(store, exclusive=False, maintenance=True):
        assert reserve_size(store) == 0 and len(locks(store)) == 1
        store.put("manifests/forgotten/x", b"t" * 1000)  # the run's own writes fit in the reserve's room
        store.delete("data/filler")  # and it frees space
    reserve = find(store)
    assert reserve is not None and reserve.size == reserve.target == TARGET
    assert locks(store) == []


def test_write_back_that_does_not_fit_keeps_the_target_and_grows_back_later() -> None:
    store = full_store()
    with MaintenanceLock(store, exclusive=False, maintenance=True):
        store.put("index/new", b"i" * (TARGET // 2))  # a prune that only marked: half the room is gone
    reserve = find(store)
    assert reserve is not None and reserve.key == reserve_key(TARGET)
    assert MIN_PIECE <= reserve.size < TARGET
    store.delete("data/filler")
    with MaintenanceLock(store, exclusive=False, maintenance=True):
        pass
    reserve = find(store)
    assert reserve is not None and reserve.size == TARGET


def test_racing_maintenance_runs_keep_one_reserve() -> None:
    store = full_store()
    with MaintenanceLock(store, exclusive=False, maintenance=True):
        with pytest.raises(LockFailed):
            MaintenanceLock(store, exclusive=False, maintenance=True).acquire()
        assert reserve_size(store) == 0  # the loser filled nothing: the winner holds the room
    reserve = find(store)
    assert reserve is not None and reserve.size == TARGET
    assert [i.key for i in store.list("reserve/")] == [reserve_key(TARGET)]


def test_a_killed_run_leaves_an_empty_reserve_that_the_next_run_fills() -> None:
    store = full_store()
    killed = MaintenanceLock(store, exclusive=False, maintenance=True)
    killed.acquire()
    killed._stop.set()  # SIGKILL: no release, the lock object stays until it is stale
    assert reserve_size(store) == 0 and reserve_key(TARGET) in [i.key for i in store.list("reserve/")]
    for key in locks(store):
        store.delete(key)  # `drkit unlock` once the holder is provably dead
    store.delete("data/filler")
    with MaintenanceLock(store, exclusive=False, maintenance=True):
        pass
    assert reserve_size(store) == TARGET


def test_no_reserve_says_so() -> None:
    store = full_store(reserve=False)
    with pytest.raises(StorageError) as err:
        MaintenanceLock(store, exclusive=False, maintenance=True).acquire()
    assert err.value.exit_code == 14
    assert "no space reserve" in (err.value.hint or "") and locks(store) == []


def test_reserve_too_small_says_so() -> None:
    store = QuotaBackend(TARGET + 10)
    create_reserve(store, TARGET)
    store.put("data/filler", b"x" * 10)
    big = MaintenanceLock(store, exclusive=False, maintenance=True, purpose="p" * (TARGET + 100))  # cannot fit
    with pytest.raises(StorageError) as err:
        big.acquire()
    assert "space reserve was released and is not enough" in (err.value.hint or "")
    reserve = find(store)
    assert reserve is not None and reserve.size == TARGET  # written back after the failure


def test_reader_goes_on_without_a_lock_object_on_a_full_store() -> None:
    store = full_store(reserve=False)
    seen: list[Lock] = []
    with ReaderLock(store, exclusive=False, purpose="restore", on_acquired=seen.append) as lock:
        assert lock.key is None and not lock.lost and locks(store) == []
    assert len(seen) == 1  # the repository still refreshes its view of the marks


def test_write_reserve_gives_up_below_the_smallest_piece() -> None:
    store = QuotaBackend(MIN_PIECE - 1)
    assert write_reserve(store, TARGET) == 0 and find(store) is None


def test_create_reserve_on_a_small_disk_is_exit_14_with_a_hint() -> None:
    with pytest.raises(StorageError) as err:
        create_reserve(QuotaBackend(TARGET // 2), TARGET)
    assert err.value.exit_code == 14 and "--reserve-mib" in (err.value.hint or "")


def test_default_reserve_that_does_not_fit_is_left_out() -> None:
    store = QuotaBackend(TARGET // 2)
    create_reserve(store, TARGET, required=False)
    assert find(store) is None


def test_retarget_gives_a_repository_without_one_a_reserve_and_resizes_or_removes_it() -> None:
    store = QuotaBackend(8 * TARGET)
    with MaintenanceLock(store, exclusive=False, maintenance=True) as lock:
        lock.retarget(TARGET)
    assert reserve_size(store) == TARGET
    with MaintenanceLock(store, exclusive=False, maintenance=True) as lock:
        lock.retarget(2 * TARGET)
    assert [i.key for i in store.list("reserve/")] == [reserve_key(2 * TARGET)] and reserve_size(store) == 2 * TARGET
    with MaintenanceLock(store, exclusive=False, maintenance=True) as lock:
        lock.retarget(0)
    assert find(store) is None


def test_empty_reserve_on_a_full_store_names_the_maintenance_run_using_it() -> None:
    store = full_store()
    with MaintenanceLock(store, exclusive=False, maintenance=True):
        store.put("data/more", b"m" * (store.capacity - store.used()))  # a backup took the rest meanwhile
        with pytest.raises(StorageError) as err:
            MaintenanceLock(store, exclusive=False, maintenance=True).acquire()
        assert "another forget or prune is using" in (err.value.hint or "")


def test_init_again_after_a_failed_init_keeps_the_reserve_it_left() -> None:
    store = QuotaBackend(4 * TARGET)
    create_reserve(store, TARGET)
    create_reserve(store, TARGET)  # no "object already exists" (exit 11) for a second init
    assert reserve_size(store) == TARGET
