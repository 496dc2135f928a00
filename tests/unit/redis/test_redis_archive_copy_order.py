"""`drkit copy` of archived AOF segments stops anywhere (store outage, interrupt): whatever it stored must
be a prefix of the history. A record's ``last_ts`` proves the group covers up to that second, and the
restore replays each file only as far as its stored records reach contiguously; a later segment stored
without an earlier one of an older INCR file made a point after it restorable with that file's tail
missing (no hole is seen: the records of that file just end earlier)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from drkit.core import clock
from drkit.pipeline import ChunkerParams
from drkit.repository.format import RepoConfig
from drkit.repository.repo import Repository
from drkit.sources.redis.backup import archive_once
from drkit.sources.redis.kinds import ARCHIVE_KIND
from drkit.sources.redis.ops_archive import aof_todo, copy_aof_archive
from storage_backends.testing.memory import MemoryBackend

T0 = 1_800_000_000


def new_repo() -> Repository:
    small = ChunkerParams(min_size=1 << 10, avg_size=4 << 10, max_size=16 << 10)
    return Repository.init(MemoryBackend(), "pw", RepoConfig(chunker=small, pack_size=64 << 10))


def _set(key: str, second: int) -> bytes:
    return f"#TS:{second}\r\n*3\r\n$3\r\nset\r\n${len(key)}\r\n{key}\r\n$1\r\n1\r\n".encode()


def archived_history(tmp_path: Path) -> Repository:
    """A base and two INCR files (a rewrite in progress), archived over several runs."""
    repo, d = new_repo(), tmp_path / "appendonlydir"
    d.mkdir()
    (d / "a.1.base.aof").write_bytes(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n")
    manifest = b"file a.1.base.aof seq 1 type b\nfile a.1.incr.aof seq 1 type i\n"
    (d / "a.manifest").write_bytes(manifest)
    for run in range(6):
        if run == 3:  # a rewrite starts: a second INCR file
            manifest += b"file a.2.incr.aof seq 2 type i\n"
            (d / "a.manifest").write_bytes(manifest)
        name = "a.1.incr.aof" if run < 3 else "a.2.incr.aof"
        with open(d / name, "ab") as fh:
            fh.write(_set(f"k{run}", T0 + 10 * run))
        clock.set_clock(lambda run=run: float(T0 + 10 * run + 5))
        try:
            archive_once(repo, d, "redis")
        finally:
            clock.set_clock(None)
    return repo


def _order(doc: dict[str, Any]) -> tuple[int, int, int]:
    return doc["type"] != "b", doc["seq"], doc["offset"]


def test_an_interrupted_copy_stores_a_prefix_of_the_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = archived_history(tmp_path)
    history = sorted((d for _, d in source.manifests.find(ARCHIVE_KIND)), key=_order)
    assert len(history) == 7
    for stop in range(1, len(history)):
        target = new_repo()
        put, calls = target.manifests.put, itertools.count()

        def failing_put(kind: str, doc: dict[str, Any], stop: int = stop, put: Any = put, calls: Any = calls) -> str:
            if kind == ARCHIVE_KIND and next(calls) == stop:
                raise OSError("store unreachable")
            return put(kind, doc)

        monkeypatch.setattr(target.manifests, "put", failing_put)
        with pytest.raises(OSError):
            copy_aof_archive(source, target, aof_todo(source, target, {"redis"}))
        stored = sorted((_order(d) for _, d in target.manifests.find(ARCHIVE_KIND)))
        assert stored == [_order(d) for d in history[:stop]], f"stopped after {stop} records"
