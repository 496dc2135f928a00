"""The server history of AOF pieces (``drkit.sources.redis.history``): recorded in each piece, kept apart
by the archiver and the planner, and absent from an older drkit's pieces without changing how they
restore. (Real servers: tests/integration/test_redis_pitr_history.py.)"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from test_redis_aof_log import restored
from test_redis_aof_tail import BASE, T0, aof_dir, at, cmd, new_repo, ts

from drkit.core import clock
from drkit.core.errors import IntegrityError, UsageError
from drkit.ops.check import check
from drkit.repository.repo import Repository
from drkit.repository.streams import store_refs
from drkit.repository.writer import BlobWriter
from drkit.sources.redis import aoflog, history, history_dir, ops
from drkit.sources.redis.aof_round import archive_once
from drkit.sources.redis.kinds import ARCHIVE_KIND
from drkit.sources.redis.pitr import Piece, group_pieces, iso
from drkit.sources.redis.segments import segments


@pytest.fixture(autouse=True)
def _real_clock_after() -> Any:
    yield
    clock.set_clock(None)


def _server(tmp_path: Path, who: str) -> Path:
    (tmp_path / who).mkdir()
    d = aof_dir(tmp_path / who)
    os.utime(d / "a.1.base.aof", (T0 - 5, T0 - 5))  # both bases in one second
    return d


def _grow(d: Path, data: dict[str, bytes], who: str, seconds: range) -> None:
    data[who] += b"".join(ts(s) + cmd("SET", f"{who}{s}", who * 20) for s in seconds)
    (d / "a.1.incr.aof").write_bytes(data[who])


def test_the_history_id_is_written_once_and_kept(tmp_path: Path) -> None:
    d = aof_dir(tmp_path)
    first = history.history_id(d)
    assert first is not None and history.valid(first)
    assert history.history_id(d) == first == (d / history.HISTORY_FILE).read_text().split()[0]
    assert [p.name for p in d.iterdir() if p.name.startswith(".")] == []  # no temp file left
    assert history.history_id(tmp_path / "not-an-aof-dir") is None
    assert not (tmp_path / history.HISTORY_FILE).exists()  # never written outside an AOF directory


def test_an_increment_name_carries_the_history_and_an_older_name_parses_without() -> None:
    fields = dict(base="b", base_mtime=T0, file="f", seq=1, offset=0, end=9, last_ts=T0, archived_ms=1, run="r1")
    inc = aoflog.Increment(source="redis", records=1, ts_enabled=True, history="0123456789ab", **fields)  # type: ignore[arg-type]
    assert inc.name.endswith("_y_0123456789ab") and aoflog.Increment.parse(inc.name) == inc
    old = aoflog.Increment(source="redis", records=1, ts_enabled=True, **fields)  # type: ignore[arg-type]
    assert aoflog.Increment.parse(old.name).history is None
    with pytest.raises(IntegrityError):
        aoflog.Increment.parse(old.name + "_NOT-HEX")


def test_two_servers_under_one_name_are_archived_whole_and_refused_with_the_name(tmp_path: Path) -> None:
    """Before, the second server's round took the first's archived end for its own (one name, one file
    name, one base second) and skipped those bytes; a restore stitched both."""
    repo = new_repo()
    dirs = {"one": _server(tmp_path, "one"), "two": _server(tmp_path, "two")}
    data = {"one": b"", "two": b""}
    _grow(dirs["one"], data, "one", range(T0, T0 + 4))
    _grow(dirs["two"], data, "two", range(T0, T0 + 2))
    at(T0 + 5)
    for d in dirs.values():
        archive_once(repo, d, "redis")
    _grow(dirs["one"], data, "one", range(T0 + 4, T0 + 5))
    _grow(dirs["two"], data, "two", range(T0 + 2, T0 + 8))
    at(T0 + 8)
    for d in dirs.values():
        archive_once(repo, d, "redis")
    for who, d in dirs.items():
        mine = history.history_id(d)
        docs = [doc for _, doc in segments(repo) if doc.get("history") == mine]
        incr = sorted((doc["offset"], doc["offset"] + doc["length"]) for doc in docs if doc["type"] == "i")
        assert incr[0][0] == 0 and incr[-1][1] == len(data[who])  # every byte of its own, none twice
        assert all(a[1] == b[0] for a, b in zip(incr, incr[1:], strict=False))
        assert [doc["length"] for doc in docs if doc["type"] == "b"] == [len(BASE)]
    opts = ops.RestoreOptions(target_dir=tmp_path / "t", point_in_time=iso(T0 + 5), name="redis")
    with pytest.raises(UsageError, match="2 different Redis servers") as err:
        ops.restore_redis(repo, None, opts)
    assert "archive each under its own --name" in str(err.value.hint) and "give --history with one of" in str(
        err.value.hint
    )
    assert not (tmp_path / "t" / "appendonlydir" / "a.1.incr.aof").exists()


def test_an_archive_begun_by_an_older_drkit_goes_on_as_one_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records without a history id (an older drkit) and the increments after them with one are one group."""
    repo = new_repo()
    d = _server(tmp_path, "one")
    data = {"one": b""}
    _grow(d, data, "one", range(T0, T0 + 3))
    at(T0 + 4)
    with monkeypatch.context() as m:
        m.setattr(history_dir, "_held", lambda *_: None)  # as an older drkit
        archive_once(repo, d, "redis")
    assert all(doc.get("history") is None for _, doc in segments(repo))
    _grow(d, data, "one", range(T0 + 3, T0 + 6))
    at(T0 + 7)
    archive_once(repo, d, "redis")
    ops.restore_redis(repo, None, ops.RestoreOptions(target_dir=tmp_path / "t", point_in_time=iso(T0 + 5)))
    assert restored(tmp_path / "t") == data["one"].split(ts(T0 + 5))[0]


def _piece(source: str, h: str | None, offset: int = 0) -> Piece:
    return Piece(
        base="b", base_mtime=T0, file="f", seq=1, type="i", offset=offset, length=1, last_ts=T0, captured=0.0,
        fetch=lambda out: 0, history=h, source=source,
    )  # fmt: skip


def test_a_piece_without_a_history_joins_the_one_its_name_recorded() -> None:
    pieces = [_piece("cache", None), _piece("redis", "a" * 12), _piece("other", "b" * 12, 1), _piece("other", None)]
    assert {g.history: [p.source for p in g.pieces] for g in group_pieces(pieces)} == {
        "a" * 12: ["redis"],
        "b" * 12: ["other", "other"],
        None: ["cache"],
    }
    # one history in the group: a piece without one joins it only when its name recorded it there
    later = [pieces[0], _piece("redis", "a" * 12, 1), _piece("redis", None)]
    assert [g.history for g in group_pieces(later)] == [None, "a" * 12]
    assert [len(g.pieces) for g in group_pieces(later)] == [1, 2]


def test_id_less_pieces_fill_only_what_lies_before_the_history_s_own() -> None:
    """From the history's own first byte of a file on, id-less bytes are the same again (an upgraded
    archive stored once more) or another server's: the restore takes the history's own only."""
    own = [_piece("redis", "a" * 12), _piece("redis", "a" * 12, 1)]
    idless = [_piece("redis", None), _piece("redis", None, 1), _piece("redis", None, 2)]
    (group,) = group_pieces([*idless, *own])
    assert group.pieces == own
    before = [_piece("redis", None), _piece("redis", "a" * 12, 1)]  # an archive that went on from their end
    assert group_pieces(before)[0].pieces == before


def test_a_server_archived_without_an_id_is_never_stitched_to_one_with_an_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Server one's pieces carry no id (an older drkit's, or its AOF directory is read-only), server two's
    do; both bases of one name and second. Before, one's pieces joined two's one history: a restore without
    --name exited 0 with one's first four seconds followed by two's fifth (a state of neither server)."""
    repo = new_repo()
    dirs = {"one": _server(tmp_path, "one"), "two": _server(tmp_path, "two")}
    data = {"one": b"", "two": b""}
    with_id = history_dir._held
    monkeypatch.setattr(history_dir, "_held", lambda d, lock: None if d == dirs["one"] else with_id(d, lock))
    _grow(dirs["one"], data, "one", range(T0, T0 + 4))
    _grow(dirs["two"], data, "two", range(T0, T0 + 2))
    at(T0 + 5)
    for who, d in dirs.items():
        archive_once(repo, d, who)
    _grow(dirs["one"], data, "one", range(T0 + 4, T0 + 5))
    _grow(dirs["two"], data, "two", range(T0 + 2, T0 + 8))
    at(T0 + 9)
    for who, d in dirs.items():
        archive_once(repo, d, who)
    ops.restore_redis(repo, None, ops.RestoreOptions(target_dir=tmp_path / "t", point_in_time=iso(T0 + 5)))
    assert restored(tmp_path / "t") in {data[who].split(ts(T0 + 5))[0] for who in dirs}  # one server's, whole
    for who in dirs:
        opts = ops.RestoreOptions(target_dir=tmp_path / f"t-{who}", point_in_time=iso(T0 + 5), name=who)
        ops.restore_redis(repo, None, opts)
        assert restored(tmp_path / f"t-{who}") == data[who].split(ts(T0 + 5))[0]


def _old_record(repo: Repository, d: Path, span: tuple[int, int]) -> str:
    """An INCR segment as an older drkit archived it: a ``redis_aof`` record with a stream root."""
    data = (d / "a.1.incr.aof").read_bytes()[span[0] : span[1]]
    with BlobWriter(repo=repo) as w:
        lists = store_refs(w, w.write_stream(io.BytesIO(data)))
        w.flush()
    doc = {"source_name": "redis", "base": "a.1.base.aof", "base_mtime": float(T0 - 5), "file": "a.1.incr.aof"}
    doc |= {"seq": 1, "type": "i", "offset": span[0], "length": len(data), "first_ts": None, "last_ts": T0}
    doc |= {"archived_at": float(T0), "root": {"type": "stream", "lists": lists, "size": len(data)}}
    return repo.manifests.put(ARCHIVE_KIND, doc)


def test_check_sees_a_hole_between_the_older_records_and_the_first_increment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, ``check`` looked at the increments alone: the first one (from byte 2 × n) followed nothing,
    the records (a second one, [n, 2 × n), gone) were not looked at, and the repository was called clean
    while a point-in-time restore stopped at the hole. (The directory gives no id, as a read-only one: an
    archiver with an id would archive the group again from its start, ``archived_ends``.)"""
    monkeypatch.setattr(history_dir, "_held", lambda *_: None)
    repo = new_repo()
    d = _server(tmp_path, "one")
    data = {"one": b""}
    _grow(d, data, "one", range(T0, T0 + 2))
    n = len(data["one"]) // 2
    _old_record(repo, d, (0, n))
    lost = _old_record(repo, d, (n, 2 * n))
    _grow(d, data, "one", range(T0 + 2, T0 + 4))
    at(T0 + 6)
    archive_once(repo, d, "redis")
    assert check(repo).errors == []
    repo.manifests.delete(ARCHIVE_KIND, lost)
    assert check(repo).errors == [
        f"AOF increments of source redis file a.1.incr.aof: bytes {n}-{2 * n} are missing "
        "(a point-in-time restore stops before them)"
    ]


def _unwritable_aof_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An AOF directory drkit cannot write its history id into (every new id file refused)."""

    def refuse(*_args: Any, **_kw: Any) -> None:
        raise PermissionError(13, "Permission denied")

    d = aof_dir(tmp_path)
    monkeypatch.setattr(history_dir, "_new_file", refuse)
    return d


def test_an_aof_directory_drkit_cannot_write_to_archives_without_an_id_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    d = _unwritable_aof_dir(tmp_path, monkeypatch)
    repo = new_repo()
    _grow(d, {"one": b""}, "one", range(T0, T0 + 2))
    at(T0 + 4)
    archive_once(repo, d, "redis")
    assert [doc.get("history") for _, doc in segments(repo)] == [None, None]  # as an older drkit
    assert "record no history id" in caplog.text and "Permission denied" in caplog.text
    assert not (d / history.HISTORY_FILE).exists()


def test_a_directory_a_restore_wrote_is_a_new_history(tmp_path: Path) -> None:
    """The id of the server a restore replaces (``--force``) must not go on naming the restored AOF."""
    repo = new_repo()
    d = _server(tmp_path, "one")
    data = {"one": b""}
    _grow(d, data, "one", range(T0, T0 + 4))
    at(T0 + 6)
    archive_once(repo, d, "redis")
    stale = tmp_path / "t" / "appendonlydir" / history.HISTORY_FILE
    stale.parent.mkdir(parents=True)
    stale.write_text(history.history_id(d) or "")
    opts = ops.RestoreOptions(target_dir=tmp_path / "t", point_in_time=iso(T0 + 3), force=True)
    ops.restore_redis(repo, None, opts)
    assert restored(tmp_path / "t") == data["one"].split(ts(T0 + 3))[0]
    assert history.history_id(stale.parent) not in (None, history.history_id(d))
    assert not (stale.parent / history_dir.RESTORE_MARKER).exists()


def test_an_empty_id_file_left_by_a_crash_is_replaced(tmp_path: Path) -> None:
    """The id is fsynced before it is linked into place; an empty file (a crash before its bytes reached
    the disk) is no id at all: before, every piece archived from the directory then recorded none."""
    d = aof_dir(tmp_path)
    (d / history.HISTORY_FILE).write_bytes(b"")
    first = history.history_id(d)
    assert first is not None and history.valid(first)
    assert history.history_id(d) == first == (d / history.HISTORY_FILE).read_text().split()[0]
    assert [p.name for p in d.iterdir() if p.name.startswith(".")] == []


def test_the_archiver_warns_once_about_a_directory_it_cannot_write_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The archiver asks for the id every round (every second in the daemon): one warning, not one a round."""
    d = _unwritable_aof_dir(tmp_path, monkeypatch)
    repo = new_repo()
    data = {"one": b""}
    for second in range(T0, T0 + 3):
        _grow(d, data, "one", range(second, second + 1))
        at(second + 3)
        archive_once(repo, d, "redis")
    assert len(segments(repo)) == 4  # the base and three rounds' growth
    assert caplog.text.count("record no history id") == 1


def test_a_copy_archived_without_an_id_never_lends_the_original_a_file_it_has_none_of(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Server two is a copy of one's directory (same base name and second) that drkit cannot write its id
    into: its pieces record none, under one's name. One's INCR file is still empty, so one's history has
    no piece of it. Before, two's id-less INCR pieces joined one's history there (``_own_first`` kept
    id-less pieces of a file the history had none of) and a point-in-time restore exited 0 with one's
    base followed by two's writes: a state neither server had."""
    repo = new_repo()
    dirs = {"one": _server(tmp_path, "one"), "two": _server(tmp_path, "two")}
    bases = {"one": BASE, "two": BASE + cmd("SET", "base", "two")}
    for who, d in dirs.items():
        (d / "a.1.base.aof").write_bytes(bases[who])
        os.utime(d / "a.1.base.aof", (T0 - 5, T0 - 5))
    with_id = history_dir._held
    monkeypatch.setattr(history_dir, "_held", lambda d, lock: None if d == dirs["two"] else with_id(d, lock))
    data = {"one": b"", "two": b""}
    _grow(dirs["two"], data, "two", range(T0, T0 + 6))
    at(T0 + 8)
    for d in dirs.values():
        archive_once(repo, d, "redis")
    assert {doc.get("history") for _, doc in segments(repo)} == {None, history.history_id(dirs["one"])}
    target = tmp_path / "t"
    try:
        ops.restore_redis(repo, None, ops.RestoreOptions(target_dir=target, point_in_time=iso(T0 + 4), name="redis"))
    except UsageError:
        return  # refused: never stitched
    incr = target / "appendonlydir" / "a.1.incr.aof"  # none: one's, empty
    got = ((target / "appendonlydir" / "a.1.base.aof").read_bytes(), incr.read_bytes() if incr.exists() else b"")
    assert got in {(bases["one"], b""), (bases["two"], data["two"].split(ts(T0 + 4))[0])}
