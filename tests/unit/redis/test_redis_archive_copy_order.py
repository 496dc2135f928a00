"""`drkit copy` of archived AOF segments stops anywhere (store outage, interrupt): whatever it stored must
be a prefix of the history. A segment's ``last_ts`` proves the group covers up to that second, and the
restore replays each file only as far as its stored segments reach contiguously; a later segment stored
without an earlier one of an older INCR file made a point after it restorable with that file's tail
missing (no hole is seen: the segments of that file just end earlier). The history here is a base's
``redis_aof`` record and six AOF increments (log objects): records and increments alike count."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from drkit.core import clock
from drkit.pipeline import ChunkerParams
from drkit.repository.format import RepoConfig
from drkit.repository.repo import Repository
from drkit.sources.redis.aof_round import archive_once
from drkit.sources.redis.aoflog import AOF_LOG
from drkit.sources.redis.kinds import ARCHIVE_KIND
from drkit.sources.redis.ops_archive import _by_group, _copy_groups, _increments_todo, aof_todo
from drkit.sources.redis.segments import segments
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
    history = sorted((d for _, d in segments(source)), key=_order)
    assert len(history) == 7
    for stop in range(1, len(history)):
        target = new_repo()
        calls = itertools.count()
        put, put_if_absent = target.manifests.put, target.backend.put_if_absent

        def failing(store: Any, stop: int = stop, calls: Any = calls) -> Any:
            def call(key: str, *args: Any, **kwargs: Any) -> Any:
                counted = key == ARCHIVE_KIND or key.startswith(AOF_LOG.prefix)  # a record or an increment
                if counted and next(calls) == stop:
                    raise OSError("store unreachable")
                return store(key, *args, **kwargs)

            return call

        monkeypatch.setattr(target.manifests, "put", failing(put))
        monkeypatch.setattr(target.backend, "put_if_absent", failing(put_if_absent))
        groups = _by_group(aof_todo(source, target, {"redis"}), _increments_todo(source, target, {"redis"}))
        with pytest.raises(OSError):
            _copy_groups(source, target, groups, None)
        stored = sorted(_order(d) for _, d in segments(target))
        assert stored == [_order(d) for d in history[:stop]], f"stopped after {stop} segments"
