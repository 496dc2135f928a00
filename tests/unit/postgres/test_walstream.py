"""Streamed WAL (``drkit pg receive``) on the memory backend: a growing partial segment is stored
under a new name each time and supersedes the older one; the complete segment supersedes every
partial; a segment also pushed by archive_command is one object; wal-fetch and the windows use the
longest partial for the tail."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drkit.repository.repo import Repository
from drkit.sources.postgres import wal, walstream
from drkit.sources.postgres.errors import WalConflict, WalMissing
from storage_backends import ObjectInfo
from storage_backends.testing.memory import MemoryBackend

SEG = 16 << 20
NAME = "000000010000000000000003"
NEXT = "000000010000000000000004"


@pytest.fixture
def repo() -> Repository:
    return Repository.init(MemoryBackend(), "pw")


def _names(repo: Repository) -> list[str]:
    return sorted(info.key.rsplit("/", 1)[-1] for info in repo.backend.list("wal/"))


def _partial(spool: Path, name: str, data: bytes) -> None:
    """As pg_receivewal writes it: the WAL so far, padded with zeros to the segment size."""
    (spool / f"{name}.partial").write_bytes(data + bytes(SEG - len(data)))


def test_partial_grows_then_is_superseded_by_the_segment(repo: Repository, tmp_path: Path) -> None:
    sync = walstream.SpoolSync(repo, tmp_path, SEG)
    _partial(tmp_path, NAME, b"A" * 1000)
    first = sync.sync()
    assert first.partial == f"{NAME}.000003E8.partial" and first.received_lsn == 3 * SEG + 1000
    assert sync.sync().partial is None  # unchanged: nothing stored again
    _partial(tmp_path, NAME, b"A" * 1000 + b"B" * 1000)
    assert sync.sync().received_lsn == 3 * SEG + 2000
    assert _names(repo) == [f"{NAME}.000007D0.partial"]  # the shorter one is gone
    out = tmp_path / "fetched"
    assert wal.fetch(repo, NAME, out) == SEG
    assert out.read_bytes()[:2001] == b"A" * 1000 + b"B" * 1000 + b"\0"

    full = b"C" * SEG
    (tmp_path / f"{NAME}.partial").rename(tmp_path / NAME)
    (tmp_path / NAME).write_bytes(full)
    _partial(tmp_path, NEXT, b"D" * 10)
    done = sync.sync()
    assert done.segments == [NAME] and done.received_lsn == 4 * SEG + 10
    assert _names(repo) == [NAME, f"{NEXT}.0000000A.partial"]
    wal.fetch(repo, NAME, out)
    assert out.read_bytes() == full  # the complete segment wins over any partial


def test_segment_pushed_by_archive_command_too(repo: Repository, tmp_path: Path) -> None:
    archived = tmp_path / "pg_wal"
    archived.mkdir()
    spool = tmp_path / "spool"
    spool.mkdir()
    data = b"W" * SEG
    (archived / NAME).write_bytes(data)
    (spool / NAME).write_bytes(data)
    assert wal.push(repo, archived / NAME) is True  # archive_command first
    assert walstream.SpoolSync(repo, spool, SEG).sync().segments == [NAME]  # the receiver finds it identical
    assert wal.push(repo, archived / NAME) is False  # and the other way round
    assert _names(repo) == [NAME]
    (spool / NAME).write_bytes(b"X" * SEG)  # another cluster's segment under the same name
    with pytest.raises(WalConflict):
        walstream.SpoolSync(repo, spool, SEG).sync()


def test_spool_keeps_only_the_newest_complete_segment(repo: Repository, tmp_path: Path) -> None:
    for name in (NAME, NEXT):
        (tmp_path / name).write_bytes(name.encode() * 100)
    walstream.SpoolSync(repo, tmp_path, SEG).sync()
    assert sorted(p.name for p in tmp_path.iterdir()) == [NEXT]  # pg_receivewal resumes after it
    assert _names(repo) == [NAME, NEXT]


def test_fetch_without_segment_or_partial_is_missing(repo: Repository, tmp_path: Path) -> None:
    _partial(tmp_path, NAME, b"A" * 10)
    walstream.SpoolSync(repo, tmp_path, SEG).sync()
    with pytest.raises(WalMissing):
        wal.fetch(repo, NEXT, tmp_path / "x")
    with pytest.raises(WalMissing):
        wal.fetch(repo, "00000001.history", tmp_path / "x")


def test_window_ends_at_the_streamed_tail(repo: Repository, tmp_path: Path) -> None:
    (tmp_path / NAME).write_bytes(b"S" * SEG)
    _partial(tmp_path, NEXT, b"T" * 4096)
    walstream.SpoolSync(repo, tmp_path, SEG).sync()
    archived = wal.archived_segments(repo, 1)
    win = wal.window(3 * SEG + 40, 3 * SEG + 100, 1, SEG, archived)
    assert win.end_lsn == 4 * SEG
    tails = walstream.streamed_tails(repo, 1, SEG)
    longer = walstream.with_tail(win, tails, SEG)
    assert longer.end_lsn == 4 * SEG + 4096 and longer.last_segment == f"{NEXT}.00001000.partial"
    assert longer.end_time is not None and win.end_time is not None and longer.end_time >= win.end_time


def test_timeline_history_is_stored(repo: Repository, tmp_path: Path) -> None:
    (tmp_path / "00000002.history").write_bytes(b"1\t0/3000000\tno recovery target specified\n")
    sync = walstream.SpoolSync(repo, tmp_path, SEG)
    sync.sync()
    sync.sync()  # once is enough: not pushed again
    assert _names(repo) == ["00000002.history"]
    wal.fetch(repo, "00000002.history", tmp_path / "h")
    assert (tmp_path / "h").read_bytes().startswith(b"1\t0/3000000")


def test_a_restart_with_an_empty_spool_never_shortens_the_stored_tail(repo: Repository, tmp_path: Path) -> None:
    """pg_receivewal resuming from the slot re-streams the segment from its start: the longer partial
    an earlier run stored stays until the new one passes it."""
    first = tmp_path / "first"
    first.mkdir()
    _partial(first, NAME, b"A" * 5000)
    walstream.SpoolSync(repo, first, SEG).sync()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    _partial(fresh, NAME, b"A" * 100)
    sync = walstream.SpoolSync(repo, fresh, SEG)
    assert sync.sync().received_lsn == 3 * SEG + 5000
    assert _names(repo) == [f"{NAME}.00001388.partial"]
    _partial(fresh, NAME, b"A" * 6000)
    sync.sync()
    assert _names(repo) == [f"{NAME}.00001770.partial"]


def test_check_reads_a_streamed_partial_page_header() -> None:
    """`check --read-data` holds a streamed partial to its name like a segment (another cluster's WAL or
    a misnamed file would stop recovery at the tail)."""
    import struct

    from drkit.sources.postgres.walcheck import segment_problem

    def segment(pageaddr: int, sysid: int = 7) -> bytes:
        head = struct.pack("<HHIQI4xQII", 0xD110, 0x0002, 1, pageaddr, 0, sysid, SEG, 8192)
        return head + bytes(SEG - len(head))

    name = walstream.partial_name(NAME, 4096)
    assert segment_problem(name, segment(3 * SEG), {"7"}) is None
    assert "its name says 0/3000000" in (segment_problem(name, segment(4 * SEG), {"7"}) or "")
    assert "database system 8" in (segment_problem(name, segment(3 * SEG, sysid=8), {"7"}) or "")


class _RacingBackend(MemoryBackend):
    """Runs ``after_list`` once, right after a listing of WAL partials: the receiver's sync landing
    between wal-fetch's listing and its read."""

    def __init__(self) -> None:
        super().__init__()
        self.after_list: list[Callable[[], None]] = []

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        found = list(super().list(prefix))
        if prefix.endswith(".") and self.after_list:
            self.after_list.pop(0)()
        yield from found


@pytest.mark.parametrize("meanwhile", ["longer partial", "whole segment"])
def test_fetch_reads_the_tail_superseded_between_listing_and_read(tmp_path: Path, meanwhile: str) -> None:
    """A sync that replaces the listed partial (by a longer one, or by the whole segment) while
    wal-fetch reads the tail: fetch returns the newer WAL. Before, the listed partial was gone and
    wal-fetch failed, which PostgreSQL takes for 'no such segment': recovery ended a segment early."""
    backend = _RacingBackend()
    repo = Repository.init(backend, "pw")
    spool = tmp_path / "spool"
    spool.mkdir()
    sync = walstream.SpoolSync(repo, spool, SEG)
    _partial(spool, NAME, b"A" * 1000)
    sync.sync()
    if meanwhile == "longer partial":
        newer = b"A" * 1000 + b"B" * 1000 + bytes(SEG - 2000)
        backend.after_list.append(lambda: (_partial(spool, NAME, b"A" * 1000 + b"B" * 1000), sync.sync()))
    else:
        newer = b"C" * SEG
        backend.after_list.append(
            lambda: ((spool / f"{NAME}.partial").unlink(), (spool / NAME).write_bytes(newer), sync.sync())
        )
    out = tmp_path / "fetched"
    assert wal.fetch(repo, NAME, out) == SEG
    assert out.read_bytes() == newer


def test_fetch_finds_the_whole_segment_stored_after_its_first_read(tmp_path: Path) -> None:
    """The receiver stores the whole segment (deleting every partial) between wal-fetch's read of the
    segment and its listing of partials: fetch returns the segment, not 'missing'."""
    backend = _RacingBackend()
    repo = Repository.init(backend, "pw")
    spool = tmp_path / "spool"
    spool.mkdir()
    sync = walstream.SpoolSync(repo, spool, SEG)
    _partial(spool, NAME, b"A" * 1000)
    sync.sync()
    whole = b"C" * SEG
    real_list = MemoryBackend.list

    def list_after_completion(self: MemoryBackend, prefix: str = "") -> Iterator[ObjectInfo]:
        if prefix.endswith(".") and not (spool / NAME).exists():
            (spool / f"{NAME}.partial").unlink()
            (spool / NAME).write_bytes(whole)
            sync.sync()  # stores NAME, deletes its partials: the listing below finds none
        return real_list(self, prefix)

    backend.list = types.MethodType(list_after_completion, backend)  # type: ignore[method-assign]
    out = tmp_path / "fetched"
    assert wal.fetch(repo, NAME, out) == SEG
    assert out.read_bytes() == whole
