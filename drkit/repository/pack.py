"""Pack files: many sealed blobs in one object, followed by a sealed header that lists them.

    pack   = blob* header_sealed header_len:u32le
    header = entry*          entry = type:u8 id:32 offset:u64le length:u32le raw_length:u32le

``offset``/``length`` locate the sealed blob inside the pack; ``raw_length`` is the plaintext size.
Because every pack describes itself, the index can be rebuilt from the packs alone.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..core.errors import IntegrityError
from ..pipeline import Cipher
from .format import AAD_PACK_HEADER

BLOB_DATA = 0
BLOB_TREE = 1

_ENTRY = struct.Struct("<B32sQII")
_TRAILER = struct.Struct("<I")


@dataclass(frozen=True, slots=True, kw_only=True)
class PackEntry:
    type: int
    id: bytes
    offset: int
    length: int
    raw_length: int


def header_length(trailer: bytes) -> int:
    (n,) = _TRAILER.unpack(trailer)
    return int(n)


def parse_header(sealed: bytes, cipher: Cipher, pack_id: str) -> list[PackEntry]:
    """Decrypt and parse a pack header; raises IntegrityError naming the pack."""
    try:
        header = cipher.open(sealed, AAD_PACK_HEADER)
    except IntegrityError:
        raise IntegrityError(f"pack {pack_id}: header fails authentication (damaged pack)") from None
    if len(header) % _ENTRY.size:
        raise IntegrityError(f"pack {pack_id}: header has a partial entry")
    return unpack_entries(header)


def unpack_entries(records: bytes | memoryview) -> list[PackEntry]:
    """Header records (a whole number of them) as entries; the record's field order is PackEntry's."""
    return [
        PackEntry(type=t, id=blob_id, offset=offset, length=length, raw_length=raw)
        for t, blob_id, offset, length, raw in _ENTRY.iter_unpack(records)
    ]


def read_entries(pack: bytes, cipher: Cipher, pack_id: str) -> list[PackEntry]:
    """The entries of a complete pack held in memory."""
    if len(pack) < _TRAILER.size:
        raise IntegrityError(f"pack {pack_id}: too short")
    n = header_length(pack[-_TRAILER.size :])
    start = len(pack) - _TRAILER.size - n
    if start < 0:
        raise IntegrityError(f"pack {pack_id}: header length {n} exceeds the pack")
    return parse_header(pack[start : len(pack) - _TRAILER.size], cipher, pack_id)


TRAILER_SIZE = _TRAILER.size
