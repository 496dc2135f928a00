"""The index: blob id → where it is stored (pack, offset, length), held compactly in memory.

An index object lists, for each pack it covers, the pack's id and size and the pack's entries. It
is stored sealed (``index/<id>``). All index objects together describe every pack a completed
backup wrote; a pack not named by any index is unreferenced (an interrupted backup) and invisible.

    index  = pack*
    pack   = id:32 size:u64le count:u32le entry*      entry as in pack.py (49 bytes)

In memory the entries stay in that 49-byte form, one run of consecutive entries per pack, in a
single ``bytearray``; an open-addressing hash table (``array('I')``, entry number + 1 per slot, load
at most 1/2) finds an id's entry. Nothing is a Python object per blob, so the size is predictable:

    49 bytes per entry + 4 bytes x (2 to 4) table slots per distinct blob  =  57 to 65 bytes a blob
    1 million blobs ≈ 60 MB, 10 million blobs ≈ 600 MB (570 MB at the typical table load)

(a ``dict[bytes, Location]`` took ~240 bytes a blob, 2.4 GB for 10 million). Lookups cost about a
microsecond in CPython; the table is built once, after loading, in about 0.6 µs a blob.

A blob may be listed in several packs (two backups stored it concurrently, or a repack copied it). A
lookup returns the copy in a pack that is not ``excluded`` (packs pending deletion, §13 of FORMAT.md)
when there is one: the preference is taken as entries are hashed, so ``excluded`` must be set before.
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..core.errors import IntegrityError
from ..pipeline import Cipher
from .format import AAD_INDEX
from .pack import _ENTRY, PackEntry, unpack_entries

_PACK = struct.Struct("<32sQI")
ENTRY_SIZE = _ENTRY.size  # 49
# manifest kind listing index objects a prune replaced but could not delete (object lock), and
# settled pending-deletion marks it could not delete: readers skip them
SUPERSEDED_KIND = "superseded"
MAX_OBJECT_ENTRIES = 1 << 18  # entries in an index object drkit writes (≈ 13 MB): bounds load memory


@dataclass(frozen=True, slots=True, kw_only=True)
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


@dataclass(frozen=True, slots=True)
class RawPack:
    """One pack of a decoded index object: its entries still in their 49-byte stored form."""

    pack_id: str
    size: int
    entries: bytes | memoryview


class Index:
    """Every indexed blob and each indexed pack's size; see the module docstring for the layout."""

    def __init__(self) -> None:
        self._records = bytearray()
        self._count = 0  # entries (a blob listed in two packs counts twice)
        self._distinct = 0
        self._hashed = 0  # entries [0, _hashed) are in the table
        self._table = array("I")
        self._mask = -1
        self._run_starts: list[int] = []
        self._run_packs: list[str] = []
        self._runs: dict[str, tuple[int, int]] = {}  # pack → (first entry, count)
        self.pack_sizes: dict[str, int] = {}
        self.listed_by: dict[str, list[str]] = {}  # pack → the index objects that list it
        self.excluded: set[str] = set()  # packs pending deletion: lookups prefer other copies
        # (old, new): entry ``new`` took over as the preferred copy of the blob entry ``old`` holds
        # (it is outside the packs pending deletion); ``LiveSet`` moves live flags along
        self.displaced: list[tuple[int, int]] = []

    # -- building ----------------------------------------------------------------------------
    def add_raw(self, pack: RawPack, source: str = "") -> None:
        """Add one pack's entries (49-byte records); a pack already present is only noted as listed
        by ``source`` (the index object id) once more."""
        if source:
            self.listed_by.setdefault(pack.pack_id, []).append(source)
        if pack.pack_id in self.pack_sizes:
            return
        n = len(pack.entries) // ENTRY_SIZE
        self.pack_sizes[pack.pack_id] = pack.size
        self._runs[pack.pack_id] = (self._count, n)
        self._run_starts.append(self._count)
        self._run_packs.append(pack.pack_id)
        self._records += pack.entries
        self._count += n

    def add_pack(self, record: PackRecord, source: str = "") -> None:
        entries = bytearray(len(record.entries) * ENTRY_SIZE)
        _pack_entries(entries, 0, record.entries)
        self.add_raw(RawPack(record.pack_id, record.size, memoryview(entries)), source)

    def hash_pending(self) -> None:
        """Put the entries added since into the lookup table (preference moves land in ``displaced``)."""
        if self._hashed == self._count:
            return
        if 2 * self._count > self._mask + 1:
            size = 1 << max(10, (2 * self._count - 1).bit_length())
            self._table, self._mask, self._hashed, self._distinct = array("I", bytes(4 * size)), size - 1, 0, 0
        self._hash_range(self._hashed, self._count)
        self._hashed = self._count

    def _hash_range(self, start: int, stop: int) -> None:
        records, table, mask = self._records, self._table, self._mask
        excluded = self.excluded
        for e in range(start, stop):
            o = e * ENTRY_SIZE + 1
            key = bytes(records[o : o + 32])
            i = hash(key) & mask
            while other := table[i]:
                p = other * ENTRY_SIZE - ENTRY_SIZE + 1
                if records[p : p + 32] == key:
                    break
                i = (i + 1) & mask
            if not other:
                table[i] = e + 1
                self._distinct += 1
            elif excluded and self.pack_of(other - 1) in excluded and self.pack_of(e) not in excluded:
                table[i] = e + 1  # a copy outside the packs pending deletion is preferred
                self.displaced.append((other - 1, e))

    # -- lookups -----------------------------------------------------------------------------
    def find(self, blob_id: bytes) -> int:
        """The entry number of ``blob_id`` (the preferred copy), or -1."""
        if not self._count:
            return -1
        self.hash_pending()
        records, table, mask = self._records, self._table, self._mask
        i = hash(blob_id) & mask
        while e := table[i]:
            o = (e - 1) * ENTRY_SIZE + 1
            if records[o : o + 32] == blob_id:
                return e - 1
            i = (i + 1) & mask
        return -1

    def pack_of(self, entry: int) -> str:
        return self._run_packs[bisect_right(self._run_starts, entry) - 1]

    def location(self, entry: int) -> Location:
        t, _, offset, length, raw = _ENTRY.unpack_from(self._records, entry * ENTRY_SIZE)
        return Location(pack_id=self.pack_of(entry), type=t, offset=offset, length=length, raw_length=raw)

    def get(self, blob_id: bytes) -> Location | None:
        e = self.find(blob_id)
        return None if e < 0 else self.location(e)

    def usable(self, blob_id: bytes) -> bool:
        """Indexed in a pack that is not pending deletion: a writer may reference it without storing it."""
        e = self.find(blob_id)
        return e >= 0 and (not self.excluded or self.pack_of(e) not in self.excluded)

    def usable_entry(self, blob_id: bytes) -> int:
        """The entry number of the blob's preferred copy when it is ``usable``, else -1."""
        e = self.find(blob_id)
        return e if e >= 0 and not (self.excluded and self.pack_of(e) in self.excluded) else -1

    def __contains__(self, blob_id: bytes) -> bool:
        return self.find(blob_id) >= 0

    def __len__(self) -> int:
        self.hash_pending()
        return self._distinct

    @property
    def entries(self) -> int:
        """Entries held (a blob listed in two packs counts twice); entry numbers are below this."""
        return self._count

    @property
    def has_duplicates(self) -> bool:
        return len(self) != self._count

    def items(self) -> Iterator[tuple[bytes, Location]]:
        """Every distinct blob with its preferred location (in no particular order)."""
        self.hash_pending()
        for e in self._table:
            if e:
                o = (e - 1) * ENTRY_SIZE
                yield bytes(self._records[o + 1 : o + 33]), self.location(e - 1)

    # -- per pack ----------------------------------------------------------------------------
    def run(self, pack_id: str) -> tuple[int, int]:
        """(first entry number, entry count) of an indexed pack."""
        return self._runs[pack_id]

    def pack_entries(self, pack_id: str) -> bytes:
        """The pack's entries in their 49-byte stored form."""
        first, n = self._runs[pack_id]
        return bytes(self._records[first * ENTRY_SIZE : (first + n) * ENTRY_SIZE])

    def entry_fields(self, entry: int) -> tuple[int, bytes, int, int, int]:
        """type, id, offset, length, raw_length of one entry."""
        fields: tuple[int, bytes, int, int, int] = _ENTRY.unpack_from(self._records, entry * ENTRY_SIZE)
        return fields

    def pack_blob_bytes(self, pack_id: str) -> int:
        """The sealed bytes of the pack's indexed blobs (fewer than it holds after a repair left damaged
        ones out)."""
        first, n = self._runs[pack_id]
        view = memoryview(self._records)[first * ENTRY_SIZE : (first + n) * ENTRY_SIZE]
        try:
            return sum(int(e[3]) for e in _ENTRY.iter_unpack(view))
        finally:
            view.release()  # a live view would forbid growing the records

    def entry_length(self, entry: int) -> int:
        return int.from_bytes(self._records[entry * ENTRY_SIZE + 41 : entry * ENTRY_SIZE + 45], "little")

    def encode(self, pack_ids: Iterable[str], cipher: Cipher, max_entries: int = MAX_OBJECT_ENTRIES) -> Iterator[bytes]:
        """Sealed index objects covering ``pack_ids``, each of at most ``max_entries`` entries (a pack is
        never split); yields nothing for no packs. One object's body is in memory at a time."""
        body = bytearray()
        count = 0
        for pid in pack_ids:
            first, n = self._runs[pid]
            if count and count + n > max_entries:
                yield cipher.seal(memoryview(body), AAD_INDEX)
                body, count = bytearray(), 0
            body += _PACK.pack(bytes.fromhex(pid), self.pack_sizes[pid], n)
            with memoryview(self._records) as view:  # released at once: the records may grow later
                body += view[first * ENTRY_SIZE : (first + n) * ENTRY_SIZE]
            count += n
        if count:
            yield cipher.seal(memoryview(body), AAD_INDEX)


def _pack_entries(out: bytearray, offset: int, entries: list[PackEntry]) -> int:
    """Write ``entries`` in their stored form into ``out`` at ``offset``; returns the offset after them.
    In place: one bytes object per entry, joined at the end, held ~3x the result at once (a
    262,144-entry index object: ~35 MB for 13 MB), most of a files backup's memory growth on a
    tree of small files (bench/scale.py)."""
    for e in entries:
        _ENTRY.pack_into(out, offset, e.type, e.id, e.offset, e.length, e.raw_length)
        offset += ENTRY_SIZE
    return offset


def encode_index(records: Iterable[PackRecord], cipher: Cipher) -> bytes:
    records = list(records)
    body = bytearray(sum(_PACK.size + len(r.entries) * ENTRY_SIZE for r in records))
    offset = 0
    for r in records:
        _PACK.pack_into(body, offset, bytes.fromhex(r.pack_id), r.size, len(r.entries))
        offset = _pack_entries(body, offset + _PACK.size, r.entries)
    return cipher.seal(memoryview(body), AAD_INDEX)


def decode_raw(sealed: bytes, cipher: Cipher, index_id: str) -> list[RawPack]:
    """The packs of an index object, entries left in their stored form (views of the decrypted body)."""
    try:
        raw = cipher.open(sealed, AAD_INDEX)
    except IntegrityError:
        raise IntegrityError(f"index {index_id}: fails authentication (damaged index object)") from None
    view = memoryview(raw)
    packs: list[RawPack] = []
    off = 0
    while off < len(raw):
        if off + _PACK.size > len(raw):
            raise IntegrityError(f"index {index_id}: truncated")
        pid, size, count = _PACK.unpack_from(raw, off)
        off += _PACK.size
        end = off + count * ENTRY_SIZE
        if end > len(raw):
            raise IntegrityError(f"index {index_id}: truncated")
        packs.append(RawPack(pid.hex(), size, view[off:end]))
        off = end
    return packs


def decode_index(sealed: bytes, cipher: Cipher, index_id: str) -> list[PackRecord]:
    return [
        PackRecord(
            p.pack_id,
            p.size,
            unpack_entries(p.entries),
        )
        for p in decode_raw(sealed, cipher, index_id)
    ]
