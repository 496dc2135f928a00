"""The index: blob id → where it is stored (pack, offset, length).

An index object lists, for each pack it covers, the pack's id and size and the pack's entries. It
is stored sealed (``index/<id>``). All index objects together describe every pack a completed
backup wrote; a pack not named by any index is unreferenced (an interrupted backup) and invisible.

    index  = pack*
    pack   = id:32 size:u64le count:u32le entry*      entry as in pack.py
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..core.errors import IntegrityError
from ..pipeline import Cipher
from .format import AAD_INDEX
from .pack import _ENTRY, PackEntry

_PACK = struct.Struct("<32sQI")
# manifest kind listing index objects a prune replaced but could not delete (object lock): readers skip them
SUPERSEDED_KIND = "superseded"


@dataclass(frozen=True, slots=True)
class Location:
    pack_id: str
    type: int
    offset: int
    length: int
    raw_length: int


@dataclass
class PackRecord:
    pack_id: str
    size: int
    entries: list[PackEntry]


class Index:
    """In-memory map of every indexed blob, plus each indexed pack's size."""

    def __init__(self) -> None:
        self._blobs: dict[bytes, Location] = {}
        self.pack_sizes: dict[str, int] = {}

    def add_pack(self, record: PackRecord) -> None:
        pid = record.pack_id
        self.pack_sizes[pid] = record.size
        for e in record.entries:
            self._blobs.setdefault(e.id, Location(pid, e.type, e.offset, e.length, e.raw_length))

    def __contains__(self, blob_id: bytes) -> bool:
        return blob_id in self._blobs

    def __len__(self) -> int:
        return len(self._blobs)

    def get(self, blob_id: bytes) -> Location | None:
        return self._blobs.get(blob_id)

    def items(self) -> Iterator[tuple[bytes, Location]]:
        return iter(self._blobs.items())

    def without_packs(self, pack_ids: set[str]) -> Index:
        """A copy with the blobs of ``pack_ids`` (and the packs) left out."""
        other = Index()
        other._blobs = {b: loc for b, loc in self._blobs.items() if loc.pack_id not in pack_ids}
        other.pack_sizes = {p: n for p, n in self.pack_sizes.items() if p not in pack_ids}
        return other


def encode_index(records: Iterable[PackRecord], cipher: Cipher) -> bytes:
    parts: list[bytes] = []
    for r in records:
        parts.append(_PACK.pack(bytes.fromhex(r.pack_id), r.size, len(r.entries)))
        parts.extend(_ENTRY.pack(e.type, e.id, e.offset, e.length, e.raw_length) for e in r.entries)
    return cipher.seal(b"".join(parts), AAD_INDEX)


def decode_index(sealed: bytes, cipher: Cipher, index_id: str) -> list[PackRecord]:
    try:
        raw = cipher.open(sealed, AAD_INDEX)
    except IntegrityError:
        raise IntegrityError(f"index {index_id}: fails authentication (damaged index object)") from None
    records: list[PackRecord] = []
    off = 0
    try:
        while off < len(raw):
            pid, size, count = _PACK.unpack_from(raw, off)
            off += _PACK.size
            entries = [PackEntry(*_ENTRY.unpack_from(raw, off + i * _ENTRY.size)) for i in range(count)]
            off += count * _ENTRY.size
            records.append(PackRecord(pid.hex(), size, entries))
    except struct.error:
        raise IntegrityError(f"index {index_id}: truncated") from None
    return records
