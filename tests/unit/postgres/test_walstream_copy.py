"""Streamed partials (``drkit pg receive``) copied to a second repository (``drkit copy``): a
partial the receiver replaced after copy listed it does not fail the copy, only the newest WAL of
a segment is copied, the target's superseded partials go, and the target's windows end at the
time the source stored its tail (not the time of the copy)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drkit.repository.repo import Repository
from drkit.sources.postgres import wal, walstream
from drkit.sources.postgres.walkeep import Horizon, copy_wal
from storage_backends import ObjectInfo
from storage_backends.testing.memory import MemoryBackend

SEG = 16 << 20
NAME = "000000010000000000000003"
NEXT = "000000010000000000000004"


def _names(repo: Repository) -> list[str]:
    return sorted(info.key.rsplit("/", 1)[-1] for info in repo.backend.list("wal/"))


def _partial(spool: Path, name: str, data: bytes) -> None:
    (spool / f"{name}.partial").write_bytes(data + bytes(SEG - len(data)))


class _SyncAfterListing(MemoryBackend):
    """Runs ``after_list`` once after a listing of the whole WAL archive: the receiver syncing while
    copy works through what it listed."""

    def __init__(self) -> None:
        super().__init__()
        self.after_list: list[object] = []

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        found = list(super().list(prefix))
        if prefix == "wal/" and self.after_list:
            self.after_list.pop(0)()  # type: ignore[operator]
        yield from found


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    path = tmp_path / "spool"
    path.mkdir()
    return path


def test_copy_goes_on_when_the_receiver_replaces_a_listed_partial(spool: Path) -> None:
    """Before: the listed partial was gone when copy read it, and copy failed with exit 13 ('missing
    object'), as if the source were damaged, whenever a receiver ran."""
    backend = _SyncAfterListing()
    source, target = Repository.init(backend, "pw"), Repository.init(MemoryBackend(), "pw")
    sync = walstream.SpoolSync(source, spool, SEG)
    _partial(spool, NAME, b"A" * 1000)
    sync.sync()
    backend.after_list.append(lambda: (_partial(spool, NAME, b"A" * 2000), sync.sync()))
    assert copy_wal(source, target, Horizon(0, SEG)) == 0
    assert _names(source) == [walstream.partial_name(NAME, 2000)]
    assert copy_wal(source, target, Horizon(0, SEG)) == 1  # the next copy takes the newer one
    assert _names(target) == [walstream.partial_name(NAME, 2000)]


def test_copy_takes_the_newest_wal_of_a_segment_and_drops_what_it_supersedes(spool: Path) -> None:
    source, target = Repository.init(MemoryBackend(), "pw"), Repository.init(MemoryBackend(), "pw")
    sync = walstream.SpoolSync(source, spool, SEG)
    _partial(spool, NAME, b"A" * 1000)
    sync.sync()
    copy_wal(source, target, Horizon(0, SEG))
    _partial(spool, NAME, b"A" * 3000)
    sync.sync()
    stale = walstream.partial_name(NEXT, 10)  # a partial the receiver could not delete, next to a longer one
    source.backend.put(wal.wal_key(stale), wal.encode_wal(source, stale, b"D" * 10 + bytes(SEG - 10)))
    _partial(spool, NEXT, b"D" * 20)
    sync.sync()
    copy_wal(source, target, Horizon(0, SEG))
    assert _names(target) == [walstream.partial_name(NAME, 3000), walstream.partial_name(NEXT, 20)]

    (spool / f"{NAME}.partial").unlink()
    (spool / NAME).write_bytes(b"C" * SEG)
    sync.sync()
    left = walstream.partial_name(NAME, 3000)  # as if under retention in the source: still listed there
    source.backend.put(wal.wal_key(left), wal.encode_wal(source, left, b"A" * 3000 + bytes(SEG - 3000)))
    copy_wal(source, target, Horizon(0, SEG))
    assert _names(target) == [NAME, walstream.partial_name(NEXT, 20)]
    out = spool.parent / "fetched"
    wal.fetch(target, NAME, out)
    assert out.read_bytes() == b"C" * SEG


def test_the_copy_target_window_ends_when_the_source_stored_its_tail(spool: Path) -> None:
    """A copied partial's object time is the time of the copy; the window (and the time a point-in-time
    restore accepts, and a drill's RPO) must end when the source stored it."""
    source_backend = MemoryBackend()
    source, target = Repository.init(source_backend, "pw"), Repository.init(MemoryBackend(), "pw")
    (spool / NAME).write_bytes(b"S" * SEG)
    _partial(spool, NEXT, b"T" * 4096)
    walstream.SpoolSync(source, spool, SEG).sync()
    stored = datetime.now(UTC) - timedelta(hours=1)
    for key, (body, _) in list(source_backend._objects.items()):
        if key.startswith("wal/"):
            source_backend._objects[key] = (body, stored)  # the source stored its WAL an hour ago
    copy_wal(source, target, Horizon(0, SEG))
    win = wal.window(3 * SEG + 40, 3 * SEG + 100, 1, SEG, wal.archived_segments(target, 1))
    tail = walstream.with_tail(win, walstream.streamed_tails(target, 1, SEG), SEG)
    assert tail.last_segment == walstream.partial_name(NEXT, 4096)
    assert tail.end_time == stored
