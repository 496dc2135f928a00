"""The one AOF cut rule (``aof_cut``) and what follows from it: the base chosen is written in a second
the cut replays, INCR files after the cut's file are left out, an INCR file that starts after the cut
is emptied, an AOF without annotations is refused."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import BinaryIO

import pytest

from drkit.core.errors import UsageError
from drkit.sources.redis.aof import AofFile, render_manifest
from drkit.sources.redis.pitr import Piece, aof_cut, choose_group, files_to_cut, group_pieces, plan_group, truncate_to


def piece(
    file: str,
    *,
    kind: str = "i",
    last_ts: int | None = None,
    base_mtime: float = 100.0,
    captured: float = 0.0,
    length: int = 100,
    base: str = "b.rdb",
) -> Piece:
    def fetch(out: BinaryIO) -> int:
        return 0

    return Piece(
        base=base,
        base_mtime=base_mtime,
        file=file,
        seq=1,
        type=kind,
        offset=0,
        length=length,
        last_ts=last_ts,
        captured=captured,
        fetch=fetch,
    )


def test_a_time_inside_a_second_reaches_the_start_of_that_second() -> None:
    cut = aof_cut(1_000_053.35)
    assert (cut.last_second, cut.point, cut.exact) == (1_000_052, 1_000_053.0, False)
    assert "whole seconds" in cut.note() and "T13:47:33.000Z" in cut.note()
    assert "provably before 1970-01-12T13:47:33.350000Z" in cut.note()


def test_a_whole_second_is_reached_exactly() -> None:
    cut = aof_cut(1_000_053.0)
    assert (cut.last_second, cut.point, cut.exact) == (1_000_052, 1_000_053.0, True)


def test_a_base_written_in_the_target_second_is_not_used() -> None:
    """A base written at 200.5 may hold writes of 200.6; for T = 200.7 the older group is the answer."""
    old = piece("old.incr", last_ts=250, base_mtime=100, base="old.rdb")
    new = piece("new.incr", last_ts=300, base_mtime=200.5, base="new.rdb")
    groups = group_pieces([old, new])
    assert choose_group(groups, aof_cut(200.7)).base == "old.rdb"
    assert choose_group(groups, aof_cut(201.0)).base == "new.rdb"


def test_a_group_must_reach_the_point() -> None:
    groups = group_pieces([piece("i", last_ts=150, captured=140.0)])
    assert choose_group(groups, aof_cut(150.9)).start == 100  # the point 150 is reached
    with pytest.raises(UsageError, match="not covered"):
        choose_group(groups, aof_cut(151.2))  # the point 151: writes of second 150 may be missing


def test_a_small_incr_file_without_annotations_is_refused() -> None:
    """52 bytes (SELECT + one SET) used to pass as 'no data' and be replayed whole."""
    groups = group_pieces([piece("i", length=52, captured=500.0)])
    with pytest.raises(UsageError, match="aof-timestamp-enabled"):
        choose_group(groups, aof_cut(300.5))


def test_incr_files_after_the_cut_are_left_out() -> None:
    pieces = [piece("b", kind="b"), piece("i1", last_ts=50), piece("i2", last_ts=55), piece("i3", last_ts=60)]
    files = [AofFile("b", 1, "b"), AofFile("i1", 1, "i"), AofFile("i2", 2, "i"), AofFile("i3", 3, "i")]
    group = group_pieces(pieces)[0]
    assert [f.name for f in files_to_cut(files, group, aof_cut(53.5))] == ["b", "i1", "i2"]
    assert [f.name for f in files_to_cut(files, group, aof_cut(70.0))] == ["b", "i1", "i2", "i3"]


@pytest.mark.skipif(shutil.which("redis-check-aof") is None, reason="needs redis-check-aof (Redis 7)")
def test_an_incr_file_starting_after_the_cut_is_emptied(tmp_path: Path) -> None:
    """redis-check-aof refuses to cut at offset 0 ('nothing before timestamp'): drkit empties the file."""
    base = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\n"
    incr = b"#TS:60\r\n*3\r\n$3\r\nset\r\n$1\r\nb\r\n$1\r\n2\r\n"
    files = [AofFile("a.base.aof", 1, "b"), AofFile("a.incr.aof", 1, "i")]
    (tmp_path / "a.base.aof").write_bytes(base)
    (tmp_path / "a.incr.aof").write_bytes(incr)
    (tmp_path / "m.manifest").write_bytes(render_manifest(files))
    truncate_to(tmp_path, "m.manifest", files, aof_cut(59.5))
    assert (tmp_path / "a.incr.aof").read_bytes() == b""
    assert (tmp_path / "a.base.aof").read_bytes() == base


def test_a_missing_incr_file_between_two_is_refused() -> None:
    """The records of an older INCR file gone (a prune stopped half way, a partial copy): the base and the
    newer INCR file replayed without it lost its writes, silently. Refused before anything is written."""

    def fetch(out: BinaryIO) -> int:
        return 0

    pieces = [
        Piece(
            base="b.rdb",
            base_mtime=100.0,
            file="b.rdb",
            seq=1,
            type="b",
            offset=0,
            length=10,
            last_ts=None,
            captured=300.0,
            fetch=fetch,
        ),
        Piece(
            base="b.rdb",
            base_mtime=100.0,
            file="i.3",
            seq=3,
            type="i",
            offset=0,
            length=10,
            last_ts=150,
            captured=300.0,
            fetch=fetch,
        ),
        Piece(
            base="b.rdb",
            base_mtime=100.0,
            file="i.5",
            seq=5,
            type="i",
            offset=0,
            length=10,
            last_ts=250,
            captured=300.0,
            fetch=fetch,
        ),
    ]
    with pytest.raises(UsageError, match="INCR file between"):
        plan_group(group_pieces(pieces)[0])
    files, _ = plan_group(group_pieces([p for p in pieces if p.seq != 5])[0])
    assert [f.name for f in files] == ["b.rdb", "i.3"]
