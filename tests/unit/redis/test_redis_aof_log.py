"""AOF increments in the repository's log archive (``sources.redis.aoflog``): the archiver stores INCR
growth as log objects whose names carry the file, byte range and times (bound to the content: a renamed,
damaged or missing object is refused, exit 13 or 2, never replayed); a base stays a record with a
deduplicated stream; an archive begun with old ``redis_aof`` INCR records goes on in the new form and
restores as one history. The restored file is compared with the source file's bytes (the Redis
``DEBUG DIGEST`` oracle over a real server is in tests/integration/test_redis_pitr_second.py and
test_redis_aof_follow.py, whose archives are all in this form)."""

from __future__ import annotations

import io
import os
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from test_redis_aof_tail import BASE, T0, aof_dir, append, at, cmd, new_repo, ts

from drkit.core import clock
from drkit.core.errors import IntegrityError, UsageError
from drkit.pipeline import ChunkerParams
from drkit.repository.format import RepoConfig
from drkit.repository.immutability import Trimming
from drkit.repository.repo import Repository
from drkit.repository.streams import SourceRef, backup_stream, store_refs
from drkit.repository.writer import BlobWriter
from drkit.sources.redis import aoflog, ops, pitr
from drkit.sources.redis.aof import AofFile
from drkit.sources.redis.aof_round import archive_once
from drkit.sources.redis.archive_keep import plan_aof_retention, remove_archived
from drkit.sources.redis.kinds import ARCHIVE_KIND
from drkit.sources.redis.pitr import iso
from drkit.sources.redis.segments import is_increment, segments
from storage_backends.base import Capabilities, Data, ObjectInfo, PutOptions
from storage_backends.testing.memory import MemoryBackend


@pytest.fixture(autouse=True)
def _real_clock_after() -> Any:
    yield
    clock.set_clock(None)


def history(d: Path, seconds: range) -> bytes:
    for s in seconds:
        append(d, ts(s) + cmd("SET", f"k{s}", "v" * 50))
    return (d / "a.1.incr.aof").read_bytes()


def restore_at(repo: Repository, when: float, target: Path) -> ops.RestoreResult:
    return ops.restore_redis(repo, None, ops.RestoreOptions(target_dir=target, point_in_time=iso(when)))


def restored(target: Path) -> bytes:
    return (target / "appendonlydir" / "a.1.incr.aof").read_bytes()


@pytest.mark.parametrize("source", ["redis", "cache_1", "..", "a.b-c_d é/x"])
def test_a_name_says_what_it_holds_and_parses_back(source: str) -> None:
    inc = aoflog.Increment(
        source=source,
        base="appendonly.aof.3.base.rdb",
        base_mtime=T0,
        file="appendonly.aof.7.incr.aof",
        seq=7,
        offset=4096,
        end=8192,
        last_ts=T0 + 5,
        archived_ms=(T0 + 6) * 1000 + 250,
        run="0123456789ab",
        records=3,
        ts_enabled=False,
    )
    assert aoflog.Increment.parse(inc.name) == inc
    assert "_000007_appendonly.aof.7.incr.aof_000000004096_000000008192_" in inc.name
    assert aoflog.archive(new_repo()).key(inc.name).startswith("logs/aof/")


@pytest.mark.parametrize("name", ["x", "a_1_b_1_f_0_0_x_1_r_1_u", "a_1_b_1_f_5_9_x_1_r_0_u", "a_1_b_1_f_0_9_x_1_r_1_q"])
def test_a_name_that_is_not_an_increment_is_refused(name: str) -> None:
    with pytest.raises(IntegrityError):
        aoflog.Increment.parse(name)


def test_growth_is_stored_as_log_objects_in_pieces_and_restores_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aoflog, "MAX_PIECE", 100)  # a round's growth is split
    repo, d = new_repo(), aof_dir(tmp_path)
    first = history(d, range(T0, T0 + 4))
    at(T0 + 6)  # captured T0 + 4: after every write so far
    archive_once(repo, d, "r")
    full = history(d, range(T0 + 4, T0 + 8))
    at(T0 + 20)
    archive_once(repo, d, "r")
    found = segments(repo, "r")
    assert [d["file"] for key, d in found if not is_increment(key)] == ["a.1.base.aof"]  # the base: a record
    incs = sorted(aoflog.increments(repo, "r"), key=lambda i: i.offset)
    assert len(incs) > 4 and max(i.end - i.offset for i in incs) <= 100
    assert [i.offset for i in incs[1:]] == [i.end for i in incs[:-1]] and incs[-1].end == len(full)
    assert any(i.end == len(first) for i in incs)  # the second round went on where the first ended
    res = restore_at(repo, T0 + 6, tmp_path / "t")
    assert res.kind == "pitr-aof"
    kept = full[: full.index(ts(T0 + 6))]  # the seconds before T0 + 6, none of it
    assert restored(tmp_path / "t") == kept
    assert (tmp_path / "t" / "appendonlydir" / "a.1.base.aof").read_bytes() == BASE


def _object(repo: Repository, inc: aoflog.Increment) -> tuple[str, bytes]:
    logs = aoflog.archive(repo)
    obj = logs.get_object(inc.name)
    assert obj is not None
    return logs.key(inc.name), obj


def _archived(tmp_path: Path) -> tuple[Repository, list[aoflog.Increment]]:
    repo, d = new_repo(), aof_dir(tmp_path)
    for second in range(T0, T0 + 6):
        history(d, range(second, second + 1))
        at(second + 3)
        archive_once(repo, d, "r")
    return repo, sorted(aoflog.increments(repo, "r"), key=lambda i: i.offset)


def test_a_damaged_increment_is_refused_and_nothing_is_left_behind(tmp_path: Path) -> None:
    repo, incs = _archived(tmp_path)
    key, obj = _object(repo, incs[2])
    damaged = bytearray(obj)
    damaged[-5] ^= 0x40
    repo.backend.delete(key)
    repo.backend.put(key, bytes(damaged))
    with pytest.raises(IntegrityError) as err:
        restore_at(repo, T0 + 5, tmp_path / "t")
    assert err.value.exit_code == 13
    assert not list((tmp_path / "t" / "appendonlydir").glob("*"))


def test_an_increment_under_another_name_is_refused(tmp_path: Path) -> None:
    """The name is the authenticated data: an object moved to a name claiming a later second (or other
    bytes) does not open."""
    repo, incs = _archived(tmp_path)
    key, obj = _object(repo, incs[-1])
    forged = aoflog.Increment(**{**incs[-1].__dict__, "last_ts": T0 + 50, "archived_ms": (T0 + 60) * 1000})
    repo.backend.delete(key)
    repo.backend.put(aoflog.archive(repo).key(forged.name), obj)
    with pytest.raises(IntegrityError):
        restore_at(repo, T0 + 40, tmp_path / "t")


def test_a_missing_increment_is_a_hole_never_skipped(tmp_path: Path) -> None:
    repo, incs = _archived(tmp_path)
    repo.backend.delete(aoflog.archive(repo).key(incs[2].name))
    with pytest.raises(IntegrityError, match=f"hole after byte {incs[2].offset}") as err:
        restore_at(repo, T0 + 5, tmp_path / "t")
    assert err.value.exit_code == 13  # a piece gone from the repository: damage, not a usage error
    assert not (tmp_path / "t" / "appendonlydir").exists() or not list((tmp_path / "t" / "appendonlydir").glob("*"))


def _old_round(repo: Repository, d: Path, name: str, doc: dict[str, Any], data: bytes) -> None:
    """A ``redis_aof`` record as drkit wrote every segment before the log archive held INCR growth."""
    with BlobWriter(repo=repo) as writer:
        refs = writer.write_stream(io.BytesIO(data))
        lists = store_refs(writer, refs)
        writer.flush()
    repo.manifests.put(
        ARCHIVE_KIND, {**doc, "source_name": name, "root": {"type": "stream", "lists": lists, "size": len(data)}}
    )


def test_an_archive_begun_in_the_old_form_goes_on_in_the_new_one(tmp_path: Path) -> None:
    repo, d = new_repo(), aof_dir(tmp_path)
    old = history(d, range(T0, T0 + 3))
    mtime = int((d / "a.1.base.aof").stat().st_mtime)
    common = {"base": "a.1.base.aof", "base_mtime": float(mtime), "archived_at": T0 + 4.0}
    _old_round(repo, d, "r", {**common, "file": "a.1.base.aof", "seq": 1, "type": "b", "offset": 0,
                              "length": len(BASE), "first_ts": None, "last_ts": None}, BASE)  # fmt: skip
    _old_round(repo, d, "r", {**common, "file": "a.1.incr.aof", "seq": 1, "type": "i", "offset": 0,
                              "length": len(old), "first_ts": T0, "last_ts": T0 + 2}, old)  # fmt: skip
    full = history(d, range(T0 + 3, T0 + 7))
    at(T0 + 10)
    stored = archive_once(repo, d, "r")
    # the old records carry no history id: this drkit (which writes one) archives the group again from its
    # start, once (a piece without an id may be another server's, ``archived_ends``), and goes on from there
    assert [(s["offset"], s["offset"] + s["length"]) for s in stored] == [(0, len(BASE)), (0, len(full))]
    assert [s["type"] for s in stored] == ["b", "i"] and is_increment(stored[1]["name"])
    more = history(d, range(T0 + 7, T0 + 8))
    at(T0 + 11)
    stored = archive_once(repo, d, "r")
    assert [(s["offset"], s["offset"] + s["length"]) for s in stored] == [(len(full), len(more))]  # only the new
    restore_at(repo, T0 + 5, tmp_path / "t")
    assert restored(tmp_path / "t") == full[: full.index(ts(T0 + 5))]


def test_check_names_a_hole_and_an_unreadable_name(tmp_path: Path) -> None:
    repo, incs = _archived(tmp_path)
    names = [i.name for i in incs]
    assert aoflog.gap_lines(names) == []
    lines = aoflog.gap_lines([n for n in names if n != incs[2].name] + ["r_not_an_increment"])
    assert len(lines) == 2
    assert any(f"bytes {incs[2].offset}-{incs[2].end} are missing" in line for line in lines), lines
    assert aoflog.inspect(incs[0].name, b"x" * (incs[0].end - incs[0].offset)) is None
    assert "holds 1 bytes" in str(aoflog.inspect(incs[0].name, b"x"))


def test_retention_removes_a_group_of_both_forms_whole_and_keeps_the_next(tmp_path: Path) -> None:
    """A group (old INCR record + increments) before the oldest kept snapshot goes whole, its base record
    last; the next group (a rewrite) is kept and still restores."""
    repo, d = new_repo(), aof_dir(tmp_path)
    os.utime(d / "a.1.base.aof", (T0 - 100, T0 - 100))
    old = history(d, range(T0, T0 + 2))
    common = {"base": "a.1.base.aof", "base_mtime": float(T0 - 100), "archived_at": T0 + 3.0}
    _old_round(repo, d, "r", {**common, "file": "a.1.incr.aof", "seq": 1, "type": "i", "offset": 0,
                              "length": len(old), "first_ts": T0, "last_ts": T0 + 1}, old)  # fmt: skip
    history(d, range(T0 + 2, T0 + 4))
    at(T0 + 6)
    archive_once(repo, d, "r")  # the base record, increments after the old record
    (d / "a.2.base.aof").write_bytes(BASE)
    os.utime(d / "a.2.base.aof", (T0 + 10, T0 + 10))
    (d / "a.manifest").write_bytes(b"file a.2.base.aof seq 2 type b\nfile a.2.incr.aof seq 2 type i\n")
    (d / "a.2.incr.aof").write_bytes(ts(T0 + 11) + cmd("SET", "n", "1") + ts(T0 + 12) + cmd("SET", "m", "2"))
    at(T0 + 20)
    archive_once(repo, d, "r")
    at(T0 + 15)
    snap = backup_stream(repo, SourceRef("redis", "r", [], {"mode": "rdb"}), io.BytesIO(b"REDIS0011"))
    plan = plan_aof_retention(repo, [snap])
    gone = {d["file"] for k, d in segments(repo, "r") if k in plan.removed}
    assert gone == {"a.1.base.aof", "a.1.incr.aof"} and plan.kept == 2
    remove_archived(repo, plan)
    assert {(d["base"], d["file"]) for _, d in segments(repo, "r")} == {
        ("a.2.base.aof", "a.2.base.aof"),
        ("a.2.base.aof", "a.2.incr.aof"),
    }
    restore_at(repo, T0 + 12, tmp_path / "t")
    assert (tmp_path / "t" / "appendonlydir" / "a.2.incr.aof").read_bytes() == ts(T0 + 11) + cmd("SET", "n", "1")


class _Locking(MemoryBackend):
    """Reports each object's retention end from ``stat``, like S3 with Object Lock."""

    def __init__(self) -> None:
        super().__init__()
        self.capabilities = Capabilities(object_lock=True)
        self.retained: dict[str, datetime] = {}

    def put(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        super().put(key, data, options)
        if options is not None and options.retain_until is not None:
            self.retained[key] = options.retain_until

    def put_if_absent(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        super().put_if_absent(key, data, options)
        if options is not None and options.retain_until is not None:
            self.retained[key] = options.retain_until

    def stat(self, key: str) -> ObjectInfo:
        return replace(super().stat(key), retain_until=self.retained.get(key))


def test_retention_keeps_increments_under_object_lock(tmp_path: Path) -> None:
    small = ChunkerParams(min_size=1 << 10, avg_size=4 << 10, max_size=16 << 10)
    repo = Repository.init(_Locking(), "pw", RepoConfig(chunker=small, pack_size=64 << 10, immutable_days=1))
    d = aof_dir(tmp_path)
    for second in range(T0, T0 + 3):
        history(d, range(second, second + 1))
        at(second + 3)
        archive_once(repo, d, "r")
    at(T0 + 100)
    snap = backup_stream(repo, SourceRef("redis", "r", [], {"mode": "rdb"}), io.BytesIO(b"REDIS0011"))
    plan = plan_aof_retention(repo, [snap])  # the group ends before the snapshot: it would go, but is locked
    assert plan.removed == [] and len(plan.locked) == 4 and plan.kept == 4
    incs = list(aoflog.increments(repo, "r"))
    remove_archived(repo, Trimming(removed=[incs[0].name]))  # even when asked: a locked increment stays
    assert [i.name for i in aoflog.increments(repo, "r")] == [i.name for i in incs]


def test_a_source_name_too_long_for_an_object_name_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    repo, d = new_repo(), aof_dir(tmp_path)
    history(d, range(T0, T0 + 2))
    at(T0 + 5)
    with pytest.raises(UsageError, match="would need object names of") as err:
        archive_once(repo, d, "r" * 200)
    assert "shorter --name" in str(err.value.hint)
    assert segments(repo) == []
    with pytest.raises(UsageError, match="needs a source name"):
        archive_once(repo, d, "")
    assert segments(repo) == []


def test_an_object_that_is_not_an_increment_stops_a_restore_but_not_the_freshness_gauge(tmp_path: Path) -> None:
    repo, incs = _archived(tmp_path)
    stray = "r_not-an-increment"
    repo.backend.put(aoflog.archive(repo).key(stray), b"x")
    with pytest.raises(IntegrityError, match="not the name of an AOF increment"):
        restore_at(repo, T0 + 5, tmp_path / "t")
    assert len([k for k, _ in segments(repo, "r", strict=False) if is_increment(k)]) == len(incs)


def test_a_copy_of_an_increment_under_a_later_capture_time_is_refused_not_trusted(tmp_path: Path) -> None:
    """The names are planned with before the objects are read: an object stored again under a name that
    claims a later capture (the same bytes, so the restore need not replay it) would stretch the window,
    and a point past the true end would be 'restored' without the writes made until it. Every piece whose
    name adds to what the chosen group claims is read and verified before anything is written."""
    repo, incs = _archived(tmp_path)
    last = incs[-1]
    key, obj = _object(repo, last)
    forged = aoflog.Increment(**{**last.__dict__, "archived_ms": (T0 + 60) * 1000, "run": "f0f0f0f0f0f0", "records": 1})
    repo.backend.put(aoflog.archive(repo).key(forged.name), obj)
    with pytest.raises(IntegrityError):
        restore_at(repo, T0 + 40, tmp_path / "t")
    assert not (tmp_path / "t" / "appendonlydir").exists() or not any((tmp_path / "t" / "appendonlydir").iterdir())


@pytest.mark.parametrize("ahead", [1, 2, 16])
def test_increments_fetched_ahead_are_written_in_order_with_the_streams_between(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ahead: int
) -> None:
    """``pitr.write_group`` fetches runs of increments in parallel (up to ``AHEAD``); the file is still the
    pieces in order, each less the bytes it overlaps, streams between them written where they stand."""
    monkeypatch.setattr(pitr, "AHEAD", ahead)
    data = bytes(range(256)) * 4
    spans = [
        (0, 100, False),
        (100, 180, True),
        (150, 300, True),
        (300, 301, True),
        (301, 700, False),
        (700, 1024, True),
    ]

    def fetch(start: int, end: int, out: Any) -> int:
        out.write(data[start:end])
        return end - start

    pieces = [
        pitr.Piece(
            base="b",
            base_mtime=0.0,
            file="f",
            seq=1,
            type="i",
            offset=s,
            length=e - s,
            last_ts=None,
            captured=0.0,
            fetch=partial(fetch, s, e),
            small=small,
        )
        for s, e, small in spans
    ]
    plan = [
        (p, (pieces[i - 1].end - p.offset) if i and pieces[i - 1].end > p.offset else 0) for i, p in enumerate(pieces)
    ]
    pitr.write_group(tmp_path / "out", "m.manifest", [AofFile("f", 1, "i")], {"f": plan})
    assert (tmp_path / "out" / "f").read_bytes() == data
