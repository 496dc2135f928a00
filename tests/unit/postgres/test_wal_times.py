"""Archive times of copied WAL files (``wal_archived`` records): carried by copy, read by windows,
dropped by retention once none of their files is archived."""

from __future__ import annotations

import time
from pathlib import Path

from drkit.pipeline import ChunkerParams
from drkit.repository.format import RepoConfig
from drkit.repository.repo import Repository
from drkit.sources.postgres import wal
from drkit.sources.postgres.walkeep import Horizon, WalRetention, copy_wal, remove
from storage_backends.testing.memory import MemoryBackend

SMALL = ChunkerParams(min_size=4 << 10, avg_size=16 << 10, max_size=64 << 10, seed=1)
SEG = 16 << 20
NAMES = ["000000010000000000000005", "000000010000000000000006"]


def _repo() -> Repository:
    return Repository.init(MemoryBackend(), "pw", RepoConfig(chunker=SMALL, pack_size=64 << 10))


def _push_all(repo: Repository, tmp_path: Path) -> None:
    for name in NAMES:
        path = tmp_path / name
        path.write_bytes(name.encode() * 100)
        wal.push(repo, path)


def test_copy_carries_archive_times_once(tmp_path: Path) -> None:
    source, target = _repo(), _repo()
    _push_all(source, tmp_path)
    time.sleep(0.01)  # the copy's objects get later times than the source's
    assert copy_wal(source, target, Horizon(0, SEG)) == 2
    assert wal.archive_times(target) == wal.archive_times(source)
    assert wal.archived_segments(target, 1) == wal.archived_segments(source, 1)
    records = len(target.manifests.ids(wal.TIMES_KIND))
    assert copy_wal(source, target, Horizon(0, SEG)) == 0
    assert len(target.manifests.ids(wal.TIMES_KIND)) == records == 1  # nothing new to record


def test_retention_drops_records_whose_files_are_gone(tmp_path: Path) -> None:
    repo = _repo()
    _push_all(repo, tmp_path)
    repo.manifests.put(wal.TIMES_KIND, {"times": {NAMES[0]: "2026-01-01T00:00:00+00:00"}})
    keep = repo.manifests.put(wal.TIMES_KIND, {"times": {NAMES[1]: "2026-01-01T00:00:00+00:00"}})
    with repo.lock(maintenance=True):
        remove(repo, WalRetention(removed=[NAMES[0]]))
    assert repo.manifests.ids(wal.TIMES_KIND) == [keep]
    assert wal.archive_times(repo)[NAMES[1]].year == 2026
