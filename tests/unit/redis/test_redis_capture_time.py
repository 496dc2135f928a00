"""The coverage an AOF capture claims ends when the file sizes were read, not after the upload: a
segment archived (or a snapshot taken) over a slow store holds nothing written after the sizes were
read, so a point in time in between must not count as covered (writes there would be missing)."""

from __future__ import annotations

import itertools
from pathlib import Path

from drkit.core import clock
from drkit.pipeline import ChunkerParams
from drkit.repository.format import RepoConfig
from drkit.repository.repo import Repository
from drkit.sources.redis.backup import FSYNC_SLACK, archive_once, backup_aof_dir
from storage_backends.testing.memory import MemoryBackend

T0 = 1_800_000_000.0
UPLOAD = 100.0  # seconds every clock read after the first one sees: the upload took that long


def aof_dir(tmp_path: Path) -> Path:
    d = tmp_path / "appendonlydir"
    d.mkdir()
    (d / "appendonly.aof.1.base.aof").write_bytes(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n")
    (d / "appendonly.aof.1.incr.aof").write_bytes(b"#TS:1800000000\r\n*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\n")
    (d / "appendonly.aof.manifest").write_bytes(
        b"file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    )
    return d


def new_repo() -> Repository:
    small = ChunkerParams(min_size=1 << 10, avg_size=4 << 10, max_size=16 << 10)
    return Repository.init(MemoryBackend(), "pw", RepoConfig(chunker=small, pack_size=64 << 10))


def test_archived_segments_are_covered_until_the_sizes_were_read(tmp_path: Path) -> None:
    repo, directory = new_repo(), aof_dir(tmp_path)
    calls = itertools.count()
    clock.set_clock(lambda: T0 if next(calls) == 0 else T0 + UPLOAD)
    try:
        docs = archive_once(repo, directory, "redis", ends={})
    finally:
        clock.set_clock(None)
    assert docs and {d["archived_at"] for d in docs} == {T0 - FSYNC_SLACK}


def test_an_aof_snapshot_is_covered_until_the_sizes_were_read(tmp_path: Path) -> None:
    repo, directory = new_repo(), aof_dir(tmp_path)
    calls = itertools.count()
    clock.set_clock(lambda: T0 if next(calls) == 0 else T0 + UPLOAD)
    try:
        snap = backup_aof_dir(repo, directory, "redis", [])
    finally:
        clock.set_clock(None)
    assert snap.meta["covered_until"] == T0 - FSYNC_SLACK
