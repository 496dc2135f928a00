"""The coverage an AOF capture claims ends when the file sizes were read, not after the upload: a
segment archived (or a snapshot taken) over a slow store holds nothing written after the sizes were
read, so a point in time in between must not count as covered (writes there would be missing)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import pytest

from drkit.core import clock
from drkit.core.errors import UsageError
from drkit.pipeline import ChunkerParams
from drkit.repository.format import RepoConfig
from drkit.repository.repo import Repository
from drkit.sources.redis.aof_round import archive_once
from drkit.sources.redis.backup import FSYNC_SLACK, backup_aof_dir
from drkit.sources.redis.catalog import aof_pieces
from drkit.sources.redis.pitr import aof_cut, choose_group, group_pieces, plan_group
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


def _rewritten(d: Path) -> None:
    """A rewrite finished: a new base (written before the cut) and a new INCR file holding a write."""
    (d / "appendonly.aof.2.base.aof").write_bytes(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n")
    os.utime(d / "appendonly.aof.2.base.aof", (T0 - 100, T0 - 100))
    (d / "appendonly.aof.2.incr.aof").write_bytes(b"#TS:1799999950\r\n*3\r\n$3\r\nset\r\n$1\r\nb\r\n$1\r\n2\r\n")
    (d / "appendonly.aof.manifest").write_bytes(
        b"file appendonly.aof.2.base.aof seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    )


def test_an_archive_run_stopped_between_its_records_claims_no_coverage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The defect: the new base's record (archived_at T0 - 2) was stored, its INCR file's was not (the store
    failed; or a restore read the records between the two puts): a point in time at T0 - 10 chose the new
    base alone and restored it without the write of T0 - 50, claiming the state at T0 - 10. Now the INCR
    file is an increment stored before the base's record: the record's put fails, and the increment alone
    (its round's count unmet) claims no capture time either."""
    repo, directory = new_repo(), aof_dir(tmp_path)
    _rewritten(directory)
    put, calls = repo.manifests.put, itertools.count()

    def failing_put(kind: str, doc: dict[str, Any]) -> str:
        if next(calls) == 0:
            raise OSError("store unreachable")
        return put(kind, doc)

    monkeypatch.setattr(repo.manifests, "put", failing_put)
    clock.set_clock(lambda: T0)
    try:
        with pytest.raises(OSError):
            archive_once(repo, directory, "redis", ends={})
    finally:
        clock.set_clock(None)
    pieces = aof_pieces(repo, "redis")
    assert [(p.file, p.captured) for p in pieces] == [("appendonly.aof.2.incr.aof", 0.0)]  # the increment alone
    with pytest.raises(UsageError, match="not covered"):
        choose_group(group_pieces(pieces), aof_cut(T0 - 10))
    monkeypatch.setattr(repo.manifests, "put", put)
    clock.set_clock(lambda: T0)
    try:
        archive_once(repo, directory, "redis")  # the next run stores the INCR file: covered again
    finally:
        clock.set_clock(None)
    group = choose_group(group_pieces(aof_pieces(repo, "redis")), aof_cut(T0 - 10))
    assert {p.file for p in group.pieces} == {"appendonly.aof.2.base.aof", "appendonly.aof.2.incr.aof"}


def test_an_aof_directory_started_again_under_the_same_names_is_archived_whole(tmp_path: Path) -> None:
    """The defect: the archive remembered how far it had read by (base name, file name) only. An AOF
    directory started again (emptied, or restored into) reuses appendonly.aof.1.*: its base was never
    archived (only an INCR file grows) and its INCR file only from the old file's length on, so the
    daemon ran on while nothing of the new history could be restored."""
    repo, directory = new_repo(), aof_dir(tmp_path)
    first = b"#TS:1799999400\r\n*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\n"
    (directory / "appendonly.aof.1.incr.aof").write_bytes(first)
    os.utime(directory / "appendonly.aof.1.base.aof", (T0 - 1000, T0 - 1000))
    clock.set_clock(lambda: T0 - 500)
    try:
        archive_once(repo, directory, "redis")
    finally:
        clock.set_clock(None)
    incr = b"#TS:1799999950\r\n*3\r\n$3\r\nset\r\n$1\r\nb\r\n$1\r\n2\r\n"
    (directory / "appendonly.aof.1.incr.aof").write_bytes(incr)  # the same length as before
    os.utime(directory / "appendonly.aof.1.base.aof", (T0 - 100, T0 - 100))  # a new base, the same name
    clock.set_clock(lambda: T0)
    try:
        archive_once(repo, directory, "redis")
    finally:
        clock.set_clock(None)
    group = choose_group(group_pieces(aof_pieces(repo, "redis")), aof_cut(T0 - 10))
    assert group.start == T0 - 100
    files, plans = plan_group(group)
    assert [f.name for f in files] == ["appendonly.aof.1.base.aof", "appendonly.aof.1.incr.aof"]
    assert sum(p.length for p, _ in plans["appendonly.aof.1.incr.aof"]) == len(incr)


def test_an_increment_claims_no_capture_later_than_the_sizes_were_read(tmp_path: Path) -> None:
    """An increment's name holds its capture time in whole milliseconds: rounded to the nearest one, a
    capture read at ….0007 claimed ….001, a moment whose writes it may not hold. On the old code the
    assertion fails (captured 1799999998.001 > 1799999998.0007)."""
    repo, directory = new_repo(), aof_dir(tmp_path)
    seen = T0 + 0.0007
    clock.set_clock(lambda: seen)
    try:
        archive_once(repo, directory, "redis", ends={})
    finally:
        clock.set_clock(None)
    captured = [p.captured for p in aof_pieces(repo, "redis") if p.type == "i"]
    assert captured and 0 < max(captured) <= seen - FSYNC_SLACK
