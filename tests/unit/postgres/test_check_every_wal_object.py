"""``drkit check --read-data`` (``ops.check``) reads back every object of the WAL archive, whatever the
file: a segment, its streamed ``.partial`` (``pg receive``), the ``.partial`` a promotion archives, a
backup label and a timeline history; a flipped byte in any one of them is one error naming it."""

from __future__ import annotations

import struct

import pytest

from drkit.ops.check import check
from drkit.repository.repo import Repository
from drkit.sources.postgres import wal
from storage_backends.testing.memory import MemoryBackend

SIZE = 1 << 20


def _segment(number: int) -> bytes:
    head = struct.pack("<HHIQI4xQII", 0xD110, 0x0002, 1, number * SIZE, 0, 7, SIZE, 8192)
    return head + bytes(SIZE - len(head))


FILES = {
    "000000010000000000000002": _segment(2),
    "000000010000000000000002.00000028.backup": b"START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n",
    "000000010000000000000003.00001000.partial": _segment(3),
    "000000010000000000000004.partial": _segment(4),
    "00000002.history": b"1\t0/4000000\tno recovery target specified\n",
}


@pytest.fixture
def repo() -> Repository:
    repo = Repository.init(MemoryBackend(), "pw")
    for name, data in FILES.items():
        assert wal.archive(repo).put(name, data) == "stored"
    return repo


def test_every_kind_of_wal_file_is_read_back(repo: Repository) -> None:
    report = check(repo, read_data=True)
    assert report.errors == [] and report.segments_read == len(FILES)


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_flipped_byte_in_any_wal_file_is_named(repo: Repository, name: str) -> None:
    key = wal.wal_key(name)
    obj = bytearray(repo.backend.get(key).read())
    obj[-1] ^= 1
    repo.backend.delete(key)
    repo.backend.put_if_absent(key, bytes(obj))
    report = check(repo, read_data=True)
    assert len(report.errors) == 1 and report.errors[0].startswith(f"WAL file {name} ({key}): damaged"), report.errors
    assert check(repo).errors == []  # without --read-data no WAL object is read
