"""WAL objects on the memory backend: idempotent push, conflicts, missing segments, windows."""

from __future__ import annotations

from pathlib import Path

import pytest

from drkit.core.errors import UsageError
from drkit.repository.repo import Repository
from drkit.sources.postgres import wal
from drkit.sources.postgres.errors import WalConflict, WalMissing
from storage_backends.testing.memory import MemoryBackend

SEG = 16 << 20


@pytest.fixture
def repo() -> Repository:
    return Repository.init(MemoryBackend(), "pw")


def test_push_is_idempotent_and_conflicts_fail(repo: Repository, tmp_path: Path) -> None:
    f = tmp_path / "000000010000000000000003"
    f.write_bytes(b"wal" * 1000)
    assert wal.push(repo, f) is True
    assert wal.push(repo, f) is False
    f.write_bytes(b"other" * 1000)
    with pytest.raises(WalConflict):
        wal.push(repo, f)
    out = tmp_path / "out"
    assert wal.fetch(repo, f.name, out) == 3000
    assert out.read_bytes() == b"wal" * 1000


def test_object_is_sealed_and_bound_to_its_name(repo: Repository, tmp_path: Path) -> None:
    f = tmp_path / "000000010000000000000003"
    f.write_bytes(b"secret-wal-content" * 100)
    wal.push(repo, f)
    with repo.backend.get("wal/00000001/000000010000000000000003") as obj:
        stored = obj.read()
    assert b"secret-wal-content" not in stored
    repo.backend.put("wal/00000001/000000010000000000000004", stored)  # moved to another name
    with pytest.raises(Exception, match="authentication|damaged|fails"):
        wal.fetch(repo, "000000010000000000000004", tmp_path / "x")


def test_fetch_missing_and_bad_names(repo: Repository, tmp_path: Path) -> None:
    with pytest.raises(WalMissing):
        wal.fetch(repo, "000000010000000000000009", tmp_path / "x")
    with pytest.raises(UsageError):
        wal.wal_key("../../config")


def test_lsn_and_segment_arithmetic() -> None:
    assert wal.parse_lsn("1/2000028") == (1 << 32) | 0x2000028
    assert wal.format_lsn(wal.parse_lsn("AB/CDEF0123")) == "AB/CDEF0123"
    name = wal.segment_name(1, 0x1FF, SEG)
    assert name == "0000000100000001000000FF"
    assert wal.segment_number(name, SEG) == 0x1FF


def test_window_ends_at_first_gap() -> None:
    names = [wal.segment_name(1, n, SEG) for n in (2, 3, 4, 6, 7)]
    win = wal.window(2 * SEG + 40, 3 * SEG + 8, 1, SEG, names)
    assert win.end_lsn == 5 * SEG and win.last_segment == names[2] and win.consistent
    missing = wal.window(SEG, SEG + 8, 1, SEG, names)
    assert missing.end_lsn is None and not missing.consistent
