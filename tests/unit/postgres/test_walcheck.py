"""Gaps in the archived WAL inside base backups' windows; subset selection of archived names."""

from __future__ import annotations

from drkit.repository.check_rooted import select_names
from drkit.repository.snapshots import Snapshot
from drkit.sources.postgres.walcheck import wal_gaps

SEG = 16 << 20


def _base(sid: str, start_seg: int, timeline: int = 1) -> Snapshot:
    lsn = f"0/{start_seg * SEG + 0x28:X}"
    return Snapshot(
        source_kind="postgres",
        source_name="c",
        root={},
        id=sid * 64,
        meta={
            "mode": "physical",
            "stop_time": f"2026-11-22T{start_seg:02d}:00:00+00:00",
            "start_lsn": lsn,
            "stop_lsn": lsn,
            "timeline": timeline,
            "wal_segment_size": SEG,
        },
    )


def _names(*segs: int, timeline: int = 1) -> list[str]:
    return [f"{timeline:08X}00000000{s:08X}" for s in segs]


def test_no_gap_in_a_contiguous_archive() -> None:
    assert wal_gaps([_base("a", 3)], _names(3, 4, 5, 6)) == []
    assert wal_gaps([_base("a", 3)], []) == []  # nothing archived yet: a short window, not a hole


def test_gap_names_missing_segments_and_the_bases_it_cuts() -> None:
    bases = [_base("a", 3), _base("b", 8)]
    (gap,) = wal_gaps(bases, _names(1, 2, 3, 4, 6, 7, 8, 9, 10))  # 1-2: before every base, not a gap
    text = gap.describe()
    assert "segment 000000010000000000000005 missing" in text and "resumes at 000000010000000000000006" in text
    assert gap.bases == ("a" * 8,) and "cannot recover past 0/5000000" in text


def test_a_range_of_missing_segments_is_one_gap() -> None:
    (gap,) = wal_gaps([_base("a", 3)], _names(3, 7))
    assert "000000010000000000000004 .. 000000010000000000000006" in gap.describe()


def test_missing_start_segment_is_a_gap_when_later_wal_exists() -> None:
    (gap,) = wal_gaps([_base("a", 3)], _names(4, 5) + ["000000010000000000000003.00000028.backup"])
    assert gap.first == gap.last == 3


def test_other_timelines_do_not_count() -> None:
    assert wal_gaps([_base("a", 3)], _names(3) + _names(9, timeline=2)) == []


def test_subset_groups_partition_names() -> None:
    names = _names(*range(40))
    groups = [select_names(names, ("group", (n, 4))) for n in range(1, 5)]
    assert sorted(sum(groups, [])) == names and all(groups)
    assert len(select_names(names, ("percent", 10.0))) == 4
    assert select_names(names, None) == names


def _segment(pageaddr: int, sysid: int = 7, size: int = 1 << 20) -> bytes:
    import struct

    head = struct.pack("<HHIQI4xQII", 0xD110, 0x0002, 1, pageaddr, 0, sysid, size, 8192)
    return head + bytes(size - len(head))


def test_segment_header_must_match_its_name_and_system() -> None:
    from drkit.sources.postgres.walcheck import segment_problem

    mib = 1 << 20
    name = "000000010000000000000005"
    assert segment_problem(name, _segment(5 * mib), {"7"}) is None
    assert segment_problem(name + ".partial", _segment(5 * mib), set()) is None
    assert "its name says 0/500000" in (segment_problem(name, _segment(6 * mib), {"7"}) or "")
    assert "database system 8" in (segment_problem(name, _segment(5 * mib, sysid=8), {"7"}) or "")
    assert "not a WAL segment" in (segment_problem(name, bytes(mib), set()) or "")
    assert segment_problem("00000002.history", b"1\t0/5000000\tno reason\n", {"7"}) is None
