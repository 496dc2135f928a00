"""Continuous AOF archiving uploads only the growing tail, never ends a piece inside a command, goes on
from the records after a restart, and reports each round's coverage.

The defect these guard: a round read the INCR file's size while Redis was appending, archived a
half-written command, and a point-in-time restore to the end of the archive failed in
``redis-check-aof`` (it refuses a file ending inside a command), or a transaction cut before its
``EXEC`` was assembled as the newest state."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from drkit.core import clock
from drkit.pipeline import ChunkerParams
from drkit.repository.format import RepoConfig
from drkit.repository.repo import Repository
from drkit.sources.redis import aof_tail, history, ops
from drkit.sources.redis.aof_round import archive_once, archived_ends
from drkit.sources.redis.aof_tail import complete_end
from drkit.sources.redis.backup import FSYNC_SLACK
from drkit.sources.redis.pitr import iso
from drkit.sources.redis.segments import segments
from storage_backends.testing.memory import MemoryBackend

T0 = 1_800_000_000
BASE = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n"


def cmd(*words: str) -> bytes:
    return f"*{len(words)}\r\n".encode() + b"".join(f"${len(w)}\r\n{w}\r\n".encode() for w in words)


def ts(second: int) -> bytes:
    return f"#TS:{second}\r\n".encode()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "complete"),
    [
        (ts(T0) + cmd("SET", "a", "1"), None),
        (ts(T0) + cmd("SET", "a", "1") + cmd("SET", "b", "2")[:-1], len(ts(T0) + cmd("SET", "a", "1"))),
        (ts(T0) + cmd("SET", "a", "1") + b"*3\r\n$3\r\nSE", len(ts(T0) + cmd("SET", "a", "1"))),
        (ts(T0) + cmd("SET", "a", "1") + b"*3", len(ts(T0) + cmd("SET", "a", "1"))),
        (ts(T0) + cmd("SET", "a", "1") + b"#TS:18", len(ts(T0) + cmd("SET", "a", "1"))),
        # a transaction not yet closed is held back whole, however many of its commands are complete
        (ts(T0) + cmd("SET", "a", "1") + cmd("MULTI") + cmd("SET", "b", "2"), len(ts(T0) + cmd("SET", "a", "1"))),
        (ts(T0) + cmd("multi") + cmd("SET", "b", "2") + cmd("exec"), None),
        (
            cmd("MULTI") + cmd("SET", "b", "2") + cmd("DISCARD") + cmd("SET", "c", "3")[:5],
            len(cmd("MULTI") + cmd("SET", "b", "2") + cmd("DISCARD")),
        ),
        # a value holding RESP-looking bytes is skipped by its length, not read as commands
        (cmd("SET", "k", "*1\r\n$4\r\nPING\r\n") + b"*1\r\n", len(cmd("SET", "k", "*1\r\n$4\r\nPING\r\n"))),
    ],
)
def test_complete_end_stops_after_the_last_whole_command(tmp_path: Path, data: bytes, complete: int | None) -> None:
    path = write(tmp_path / "a.1.incr.aof", data)
    assert complete_end(path, 0, len(data)) == (len(data) if complete is None else complete)


def test_complete_end_walks_from_the_archived_end_and_bytes_it_cannot_read_go_as_read(tmp_path: Path) -> None:
    first = ts(T0) + cmd("SET", "a", "1")
    path = write(tmp_path / "a.1.incr.aof", first + cmd("SET", "b", "2") + b"*2\r\n")
    assert complete_end(path, len(first), path.stat().st_size) == len(first + cmd("SET", "b", "2"))
    # an older archive ended inside a command: not RESP from there, archived as read (the old behaviour)
    assert complete_end(path, 3, path.stat().st_size) == path.stat().st_size
    assert complete_end(path, 5, 5) == 5


def test_a_long_tail_is_walked_only_at_its_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past WINDOW new bytes only the last WINDOW are walked (a busy server outruns a whole walk), from a
    command start; a value holding line ends and ``*``/``#`` is not taken for commands; a command larger
    than the window being written falls back to the whole walk."""
    monkeypatch.setattr(aof_tail, "WINDOW", 64)
    body = b"".join(ts(T0 + i) + cmd("SET", f"k{i}", "x\r\n*2\r\n# not a command") for i in range(20))
    path = write(tmp_path / "a.1.incr.aof", body + cmd("SET", "b", "2")[:-2])
    assert complete_end(path, 0, path.stat().st_size) == len(body)
    huge = body + cmd("SET", "big", "v" * 500)
    path = write(tmp_path / "a.1.incr.aof", huge[:-100])
    assert complete_end(path, 0, path.stat().st_size) == len(body)
    path = write(tmp_path / "a.1.incr.aof", huge)
    assert complete_end(path, 0, path.stat().st_size) == len(huge)


def test_a_long_tail_never_ends_inside_a_transaction_opened_before_its_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction larger than the window, still being written: the walk from inside the window saw
    whole commands only and ended the piece after one of them, inside the transaction (a restore to the
    end then failed in redis-check-aof: 'Reached EOF before reading EXEC for MULTI'). On the old code the
    first assertion fails (the end of the last SET)."""
    monkeypatch.setattr(aof_tail, "WINDOW", 64)
    head = ts(T0) + cmd("SET", "a", "1")
    body = cmd("MULTI") + b"".join(cmd("SET", f"k{i}", "v") for i in range(20))
    path = write(tmp_path / "a.1.incr.aof", head + body)
    assert complete_end(path, 0, path.stat().st_size) == len(head)
    closed = head + body + cmd("EXEC") + cmd("SET", "z", "9")[:-1]
    path = write(tmp_path / "a.1.incr.aof", closed)
    assert complete_end(path, 0, path.stat().st_size) == len(head + body + cmd("EXEC"))
    # closed before the window: the walk from the window's first command stands
    earlier = (
        head + cmd("MULTI") + cmd("SET", "b", "2") + cmd("EXEC") + b"".join(cmd("SET", f"k{i}", "v") for i in range(20))
    )
    path = write(tmp_path / "a.1.incr.aof", earlier + cmd("SET", "z", "9")[:-1])
    assert complete_end(path, 0, path.stat().st_size) == len(earlier)


def new_repo() -> Repository:
    small = ChunkerParams(min_size=1 << 10, avg_size=4 << 10, max_size=16 << 10)
    return Repository.init(MemoryBackend(), "pw", RepoConfig(chunker=small, pack_size=64 << 10))


def aof_dir(tmp_path: Path) -> Path:
    d = tmp_path / "appendonlydir"
    d.mkdir()
    (d / "a.1.base.aof").write_bytes(BASE)
    (d / "a.manifest").write_bytes(b"file a.1.base.aof seq 1 type b\nfile a.1.incr.aof seq 1 type i\n")
    (d / "a.1.incr.aof").write_bytes(b"")
    return d


def append(d: Path, data: bytes) -> None:
    with open(d / "a.1.incr.aof", "ab") as fh:
        fh.write(data)


def at(second: float) -> None:
    clock.set_clock(lambda: float(second))


@pytest.fixture(autouse=True)
def _real_clock_after() -> Any:
    yield
    clock.set_clock(None)


def incr_records(repo: Repository) -> list[dict[str, Any]]:
    docs = [d for _, d in segments(repo) if d["file"] == "a.1.incr.aof"]
    return sorted(docs, key=lambda d: d["offset"])


def test_a_round_archives_only_new_whole_commands_and_a_restart_goes_on_from_the_records(tmp_path: Path) -> None:
    repo, d = new_repo(), aof_dir(tmp_path)
    whole = ts(T0) + cmd("SET", "a", "1")
    half = cmd("SET", "b", "2")
    append(d, whole + half[:7])
    at(T0 + 3)
    archive_once(repo, d, "r")
    assert [(r["offset"], r["length"]) for r in incr_records(repo)] == [(0, len(whole))]
    append(d, half[7:] + ts(T0 + 1) + cmd("SET", "c", "3"))
    at(T0 + 5)
    archive_once(repo, d, "r")  # a new process: the ends come from the records (archived_ends)
    records = incr_records(repo)
    assert [(r["offset"], r["length"]) for r in records] == [
        (0, len(whole)),
        (len(whole), (d / "a.1.incr.aof").stat().st_size - len(whole)),
    ]
    assert (
        archived_ends(repo, "r", history.history_id(d))[
            ("a.1.base.aof", int((d / "a.1.base.aof").stat().st_mtime), "a.1.incr.aof")
        ]
        == (d / "a.1.incr.aof").stat().st_size
    )
    at(T0 + 7)
    assert archive_once(repo, d, "r") == []  # nothing new: nothing uploaded, no record


def test_a_rewrite_between_rounds_archives_the_held_back_tail_and_each_group_whole(tmp_path: Path) -> None:
    """Round 1 holds back a half command of INCR 1. A rewrite starts (INCR 2 opened, INCR 1 finished): round 2
    archives the rest of INCR 1 and the whole part of INCR 2. The rewrite ends (base 2, INCR 2 alone):
    round 3 archives base 2 and INCR 2 from its start under the new group. In every (base, file) the pieces
    are contiguous from 0 and end at the file's last whole command: nothing skipped, nothing twice."""
    repo, d = new_repo(), aof_dir(tmp_path)
    os.utime(d / "a.1.base.aof", (T0 - 100, T0 - 100))
    half = cmd("SET", "b", "2")
    append(d, ts(T0) + cmd("SET", "a", "1") + half[:5])
    at(T0 + 3)
    archive_once(repo, d, "r")
    append(d, half[5:])  # Redis finishes the write, then the rewrite opens INCR 2
    incr2 = ts(T0 + 4) + cmd("SET", "c", "3")
    (d / "a.2.incr.aof").write_bytes(incr2 + cmd("SET", "d", "4")[:9])
    (d / "a.manifest").write_bytes(
        b"file a.1.base.aof seq 1 type b\nfile a.1.incr.aof seq 1 type i\nfile a.2.incr.aof seq 2 type i\n"
    )
    at(T0 + 5)
    archive_once(repo, d, "r")
    (d / "a.2.base.aof").write_bytes(BASE)
    os.utime(d / "a.2.base.aof", (T0 + 6, T0 + 6))
    (d / "a.manifest").write_bytes(
        b"file a.2.base.aof seq 2 type b\nfile a.1.base.aof seq 1 type h\nfile a.1.incr.aof seq 1 type h\n"
        b"file a.2.incr.aof seq 2 type i\n"
    )
    at(T0 + 7)
    archive_once(repo, d, "r")
    pieces: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for _, doc in segments(repo):
        pieces.setdefault((doc["base"], doc["file"]), []).append((doc["offset"], doc["offset"] + doc["length"]))
    for spans in pieces.values():
        spans.sort()
        assert spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False)), spans
    ends = {key: spans[-1][1] for key, spans in pieces.items()}
    assert ends == {
        ("a.1.base.aof", "a.1.base.aof"): len(BASE),
        ("a.1.base.aof", "a.1.incr.aof"): (d / "a.1.incr.aof").stat().st_size,
        ("a.1.base.aof", "a.2.incr.aof"): len(incr2),
        ("a.2.base.aof", "a.2.base.aof"): len(BASE),
        ("a.2.base.aof", "a.2.incr.aof"): len(incr2),
    }
    assert len(pieces[("a.1.base.aof", "a.1.incr.aof")]) == 2  # the held-back tail came as its own piece


def test_a_restore_to_the_end_never_replays_a_half_written_command(tmp_path: Path) -> None:
    """Redis was writing ``SET b 2`` when the round read the size: the archive's end state holds ``a``
    only, and the assembled file is exactly the source's whole commands (on the old code the piece held
    the half command and redis-check-aof refused the restore: exit 1, no restore)."""
    repo, d = new_repo(), aof_dir(tmp_path)
    whole = ts(T0) + cmd("SET", "a", "1") + ts(T0 + 1) + cmd("SET", "x", "9")
    append(d, whole + cmd("SET", "b", "2")[:-3])
    at(T0 + 10)
    archive_once(repo, d, "r")
    target = tmp_path / "t"
    res = ops.restore_redis(repo, None, ops.RestoreOptions(target_dir=target, point_in_time=iso(T0 + 2)))
    assert res.kind == "pitr-aof"
    assert (target / "appendonlydir" / "a.1.incr.aof").read_bytes() == whole
    assert (target / "appendonlydir" / "a.1.base.aof").read_bytes() == BASE


def test_follow_reports_every_round_and_stops_when_asked(tmp_path: Path) -> None:
    repo, d = new_repo(), aof_dir(tmp_path)
    append(d, ts(T0) + cmd("SET", "a", "1"))
    rounds: list[tuple[float, int]] = []
    stop = threading.Event()
    second = iter(range(T0 + 20, T0 + 100))
    clock.set_clock(lambda: float(next(second)))

    def on_round(covered: float, docs: list[dict[str, Any]]) -> None:
        rounds.append((covered, len(docs)))
        if len(rounds) == 3:
            stop.set()

    docs: list[dict[str, Any]] = []
    total = ops.aof_archive(repo, d, "r", ops.Follow(interval=0.001, stop=stop, on_round=on_round), report=docs.append)
    assert total == 2  # the base and the INCR file, once: the idle rounds upload nothing
    assert [n for _, n in rounds] == [2, 0, 0]
    covered = [c for c, _ in rounds]
    assert covered == sorted(covered) and len(set(covered)) == 3  # idle rounds still advance the coverage
    # never more than the records claim: a round's coverage is read before its sizes are
    assert covered[0] <= min(doc["archived_at"] for doc in docs) and covered[0] > T0 - FSYNC_SLACK
