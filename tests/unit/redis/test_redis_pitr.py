"""Point-in-time planning: manifests, timestamp annotations, groups, windows, holes."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import pytest

from drkit.core.errors import IntegrityError, UsageError
from drkit.sources.redis.aof import LimitedReader, parse_manifest, read_state, render_manifest, scan_timestamps
from drkit.sources.redis.pitr import (
    Piece,
    aof_cut,
    choose_group,
    group_pieces,
    iso,
    parse_time,
    plan_group,
    write_group,
)

MANIFEST = (
    b"file appendonly.aof.3.base.rdb seq 3 type b\nfile appendonly.aof.5.incr.aof seq 5 type i\n"
    b"file appendonly.aof.2.incr.aof seq 2 type h\n"
)


def piece(
    file: str,
    data: bytes,
    offset: int = 0,
    *,
    kind: str = "i",
    last_ts: int | None = None,
    base_mtime: float = 100.0,
    captured: float = 0.0,
    seq: int = 1,
) -> Piece:
    def fetch(out: BinaryIO) -> int:
        out.write(data)
        return len(data)

    return Piece(
        base="b.rdb",
        base_mtime=base_mtime,
        file=file,
        seq=seq,
        type=kind,
        offset=offset,
        length=len(data),
        last_ts=last_ts,
        captured=captured,
        fetch=fetch,
    )


def test_manifest_round_trip() -> None:
    files = parse_manifest(MANIFEST)
    assert [(f.name, f.seq, f.type) for f in files][0] == ("appendonly.aof.3.base.rdb", 3, "b")
    assert parse_manifest(render_manifest(files)) == files


def test_timestamps_found_across_read_boundaries(tmp_path: Path) -> None:
    data = b"#TS:100\r\n*1\r\n$4\r\nPING\r\n#TS:105\r\n*1\r\n$4\r\nPING\r\n#TS:109\r\n"
    assert scan_timestamps(data) == [100, 105, 109]
    (tmp_path / "f").write_bytes(data)
    reader = LimitedReader(tmp_path / "f", len(data) - 9)
    while reader.read(7):
        pass
    reader.close()
    assert (reader.first_ts, reader.last_ts) == (100, 105)


def test_read_state_skips_history(tmp_path: Path) -> None:
    (tmp_path / "appendonly.aof.manifest").write_bytes(MANIFEST)
    (tmp_path / "appendonly.aof.3.base.rdb").write_bytes(b"REDIS")
    (tmp_path / "appendonly.aof.5.incr.aof").write_bytes(b"#TS:1\r\n")
    state = read_state(tmp_path)
    assert state.base is not None and state.base.size == 5
    assert [f.name for f in state.incrs] == ["appendonly.aof.5.incr.aof"]


def test_choose_newest_group_covering_time() -> None:
    old = piece("old.incr", b"x", last_ts=150, base_mtime=100)
    new = piece("new.incr", b"x", last_ts=300, base_mtime=200)
    groups = group_pieces([new, old])
    assert choose_group(groups, aof_cut(140)).start == 100 and choose_group(groups, aof_cut(250)).start == 200
    with pytest.raises(UsageError, match="not covered"):
        choose_group(groups, aof_cut(50))
    with pytest.raises(UsageError, match="not covered"):
        choose_group(groups, aof_cut(301))


def test_timestamps_off_is_refused() -> None:
    groups = group_pieces([piece("a.incr", b"*" * 500, captured=500.0)])
    with pytest.raises(UsageError, match="aof-timestamp-enabled"):
        choose_group(groups, aof_cut(200))


def test_plan_joins_snapshot_and_archived_segments(tmp_path: Path) -> None:
    base = piece("b.rdb", b"BASE", kind="b")
    pieces = [base, piece("i.aof", b"0123"), piece("i.aof", b"23456", 2), piece("i.aof", b"789", 7, last_ts=9)]
    files, plans = plan_group(group_pieces(pieces)[0])
    assert [f.name for f in files] == ["b.rdb", "i.aof"]
    write_group(tmp_path, "m.manifest", files, plans)
    assert (tmp_path / "i.aof").read_bytes() == b"0123456789"
    assert (tmp_path / "b.rdb").read_bytes() == b"BASE"
    assert b"type b" in (tmp_path / "m.manifest").read_bytes()


def test_plan_refuses_holes_and_missing_base() -> None:
    hole = [piece("b.rdb", b"BASE", kind="b"), piece("i.aof", b"012"), piece("i.aof", b"789", 7)]
    with pytest.raises(IntegrityError, match="hole after byte 3"):  # a piece gone from the repository: exit 13
        plan_group(group_pieces(hole)[0])
    with pytest.raises(UsageError, match="base"):
        plan_group(group_pieces([piece("i.aof", b"012")])[0])


def test_times() -> None:
    assert parse_time("2026-11-22T10:00:00Z") == parse_time("2026-11-22T10:00:00+00:00")
    assert iso(parse_time("2026-11-22 11:00:00+01")) == "2026-11-22T10:00:00Z"
    with pytest.raises(UsageError, match="no time zone"):  # was read as UTC here, refused by files and PostgreSQL
        parse_time("2026-11-22T10:00:00")
    with pytest.raises(UsageError):
        parse_time("yesterday")
