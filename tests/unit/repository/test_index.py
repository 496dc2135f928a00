"""The compact in-memory index: lookups, duplicates and the copy preferred outside pending packs,
growth, and encoding back to index objects."""

from __future__ import annotations

import hashlib

from drkit.pipeline import Cipher
from drkit.repository.index import Index, PackRecord, decode_index, decode_raw, encode_index
from drkit.repository.pack import PackEntry

CIPHER = Cipher(b"k" * 32)


def bid(n: int) -> bytes:
    return hashlib.sha256(b"%d" % n).digest()


def record(pack: str, ids: list[int]) -> PackRecord:
    entries = [
        PackEntry(type=n % 2, id=bid(n), offset=10 * i, length=7 + n, raw_length=100 + n) for i, n in enumerate(ids)
    ]
    return PackRecord(pack, 1000 + len(ids), entries)


def test_lookups_locations_and_counts() -> None:
    index = Index()
    index.add_pack(record("a" * 64, [1, 2, 3]))
    index.add_pack(record("b" * 64, [4, 5]))
    assert len(index) == 5 and index.entries == 5 and not index.has_duplicates
    loc = index.get(bid(5))
    assert loc is not None and (loc.pack_id, loc.offset, loc.length, loc.raw_length, loc.type) == (
        "b" * 64,
        10,
        12,
        105,
        1,
    )
    assert bid(9) not in index and index.get(bid(9)) is None and index.find(bid(9)) == -1
    assert dict(index.items())[bid(2)].pack_id == "a" * 64
    assert Index().get(bid(1)) is None and len(Index()) == 0


def test_duplicates_prefer_a_copy_outside_excluded_packs() -> None:
    index = Index()
    index.excluded = {"a" * 64}
    index.add_pack(record("a" * 64, [1, 2]))
    index.add_pack(record("b" * 64, [2, 3]))
    assert index.has_duplicates and len(index) == 3 and index.entries == 4
    loc = index.get(bid(2))
    assert loc is not None and loc.pack_id == "b" * 64
    assert index.usable(bid(2)) and not index.usable(bid(1)) and bid(1) in index


def test_a_pack_listed_twice_is_held_once_and_its_sources_are_kept() -> None:
    index = Index()
    index.add_pack(record("a" * 64, [1, 2]), "idx1")
    index.add_pack(record("a" * 64, [1, 2]), "idx2")
    assert index.entries == 2 and index.listed_by["a" * 64] == ["idx1", "idx2"]


def test_growth_keeps_every_blob_findable() -> None:
    index = Index()
    for p in range(40):
        index.add_pack(record(f"{p:064x}", list(range(p * 100, p * 100 + 100))))
        assert index.find(bid(p * 100 + 99)) >= 0  # lookups between additions grow the table as needed
    assert len(index) == 4000 and all(bid(n) in index for n in range(4000))


def test_encode_round_trips_and_splits_objects_between_packs() -> None:
    index = Index()
    records = [record(f"{p:064x}", list(range(p * 10, p * 10 + 10))) for p in range(5)]
    for r in records:
        index.add_pack(r)
    objects = list(index.encode([r.pack_id for r in records], CIPHER, max_entries=25))
    assert len(objects) == 3  # 20 + 20 + 10 entries: packs are never split
    decoded = [rec for i, sealed in enumerate(objects) for rec in decode_index(sealed, CIPHER, str(i))]
    assert decoded == records
    assert decode_raw(encode_index(records, CIPHER), CIPHER, "x")[2].entries == index.pack_entries(records[2].pack_id)
    assert list(index.encode([], CIPHER)) == []
