"""WAL the target of a copy holds under a source's name with other content (two clusters archiving into
one repository) is a reported conflict, never skipped as present nor overwritten; and ``check
--read-data`` counts only the WAL objects it actually read back."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import pytest

from drkit.ops.check import check
from drkit.repository.archive import LogConflict
from drkit.repository.repo import Repository
from drkit.sources.postgres import wal
from drkit.sources.postgres.walkeep import Horizon, copy_wal
from storage_backends.testing.memory import MemoryBackend

SEG = 16 << 20
A, B, C = "000000010000000000000005", "000000010000000000000006", "000000010000000000000007"


def _push(repo: Repository, tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    wal.push(repo, path)


def test_copy_reports_a_target_wal_with_other_content(tmp_path: Path) -> None:
    source, target = Repository.init(MemoryBackend(), "pw"), Repository.init(MemoryBackend(), "pw2")
    for name in (A, B, C):
        _push(source, tmp_path, name, name.encode() * 50)
    (tmp_path / "t").mkdir()
    _push(target, tmp_path / "t", A, A.encode() * 50)  # the same WAL: present, silently
    _push(target, tmp_path / "t", B, b"another cluster" * 50)  # other content under B's name
    before = wal.archive(target).get_object(B)
    with pytest.raises(LogConflict) as raised:
        copy_wal(source, target, Horizon(0, SEG))
    assert raised.value.exit_code == 13 and raised.value.names == [B]
    assert B in raised.value.message and raised.value.hint and "two clusters" in raised.value.hint
    assert A not in raised.value.message
    assert wal.archive(target).get_object(B) == before  # never overwritten
    assert wal.archive(target).read(C) == C.encode() * 50  # everything else carried
    with pytest.raises(LogConflict):  # and it stays reported on the next copy
        copy_wal(source, target, Horizon(0, SEG))


class VanishingGet(MemoryBackend):
    """Deletes one object when it is read, as a concurrent forget between a listing and the read does."""

    def __init__(self) -> None:
        super().__init__()
        self.gone = ""

    def get(self, key: str) -> BinaryIO:
        if key == self.gone:
            self.delete(key)
        return super().get(key)


def test_check_counts_only_wal_objects_read_back(tmp_path: Path) -> None:
    store = VanishingGet()
    repo = Repository.init(store, "pw")
    for name in (A, B):
        _push(repo, tmp_path, name, name.encode() * 50)
    store.gone = wal.archive(repo).key(B)
    report = check(repo, read_data=True)
    assert report.segments_read == 1, report
