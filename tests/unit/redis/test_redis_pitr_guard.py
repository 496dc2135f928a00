"""``pitr_guard``: annotations read command by command (a value holding ``#TS:`` text is not one), the
undated tail a cut keeps, and the two refusals (archived with timestamps off; a capture after the point
did not hold the tail's bytes)."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import pytest

from drkit.core.errors import UsageError
from drkit.sources.redis.aof import AofFile
from drkit.sources.redis.conn import make_target
from drkit.sources.redis.ops import _TimestampWatch
from drkit.sources.redis.pitr import Group, Piece, aof_cut
from drkit.sources.redis.pitr_guard import check_tail, iter_annotations, unproven_tail


def cmd(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def ts(second: int) -> bytes:
    return b"#TS:%d\r\n" % second


def write(tmp_path: Path, data: bytes) -> list[AofFile]:
    (tmp_path / "a.incr").write_bytes(data)
    return [AofFile("b.rdb", 1, "b"), AofFile("a.incr", 1, "i")]


def piece(offset: int, length: int, captured: float, *, ts_off: bool = False) -> Piece:
    def fetch(out: BinaryIO) -> int:
        return 0

    return Piece(
        base="b.rdb",
        base_mtime=100.0,
        file="a.incr",
        seq=1,
        type="i",
        offset=offset,
        length=length,
        last_ts=None,
        captured=captured,
        fetch=fetch,
        ts_off=ts_off,
    )


def test_a_value_holding_annotation_text_is_not_an_annotation(tmp_path: Path) -> None:
    data = ts(200) + cmd(b"SET", b"k", b"x\n#TS:999\r\ny") + ts(201) + cmd(b"SET", b"k", b"z")
    write(tmp_path, data)
    assert [s for _, _, s in iter_annotations(tmp_path / "a.incr")] == [200, 201]


def test_tail_ends_at_the_first_annotation_after_the_cut(tmp_path: Path) -> None:
    early = ts(200) + cmd(b"SET", b"e", b"1")
    data = early + ts(205) + cmd(b"SET", b"a", b"1")
    files = write(tmp_path, data)
    assert unproven_tail(tmp_path, files, aof_cut(203.0)) == [("a.incr", len(ts(200)), len(early))]
    assert unproven_tail(tmp_path, files, aof_cut(206.0)) == [("a.incr", len(early) + len(ts(205)), len(data))]


def test_refusals(tmp_path: Path) -> None:
    head = ts(200) + cmd(b"SET", b"e", b"1")
    late = cmd(b"SET", b"late", b"1")  # written with timestamps off
    files = write(tmp_path, head + late)
    cut = aof_cut(203.0)
    ok = Group("b.rdb", 100.0, [piece(0, len(head), 201.0), piece(len(head), len(late), 199.0)])
    check_tail(tmp_path, files, ok, cut)  # nothing proves late is after 203: kept, as Redis dates it
    flagged = Group("b.rdb", 100.0, [piece(0, len(head), 201.0), piece(len(head), len(late), 199.0, ts_off=True)])
    with pytest.raises(UsageError, match="aof-timestamp-enabled was off"):
        check_tail(tmp_path, files, flagged, cut)
    captured_after = Group("b.rdb", 100.0, [piece(0, len(head), 203.5), piece(len(head), len(late), 199.0)])
    with pytest.raises(UsageError, match="written after the point"):
        check_tail(tmp_path, files, captured_after, cut)


class Answers(_TimestampWatch):
    """The watch's rule over a scripted series of server answers (run_id, on), None for no answer."""

    def __init__(self, answers: list[tuple[str, bool] | None]) -> None:
        super().__init__(make_target("redis://127.0.0.1:1"))
        self.answers = answers

    def _ask(self) -> tuple[str, bool] | None:
        return self.answers.pop(0)


def test_a_round_is_annotated_only_when_on_at_both_checks_of_one_process() -> None:
    assert _TimestampWatch(None).round() is None  # no --url: unknown
    answers: list[tuple[str, bool] | None] = [("r1", True), ("r1", True), ("r1", False), ("r1", True), ("r1", True)]
    answers += [("r2", True), None, ("r2", True)]
    watch = Answers(answers)
    assert [watch.round() for _ in range(8)] == [None, True, False, False, True, None, None, None]
