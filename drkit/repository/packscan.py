"""Read one stored pack once, streamed: hash it against its name and verify each blob its header lists.

``drkit repair index`` uses this for a pack it must read whole (repair.py): one pass gives the content
hash and, for each header entry, whether the sealed blob authenticates, decompresses and hashes back to
its id (reader.open_blob, what ``check --read-data`` and every restore use). Memory stays bounded by the
read chunk plus the largest blob: bytes before the next blob still to verify are dropped as the stream
goes on (the entries are taken in offset order).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import blake3

from ..core.errors import IntegrityError
from .format import pack_key
from .pack import PackEntry
from .reader import open_blob
from .repo import Repository
from .storage_errors import storage_errors

_CHUNK = 1 << 20


@dataclass
class PackScan:
    content_hash: str = ""
    good: list[PackEntry] = field(default_factory=list)  # blobs that verify against their ids
    bad: list[tuple[PackEntry, str]] = field(default_factory=list)  # (entry, why it does not)


@dataclass
class _Stream:
    todo: list[PackEntry]  # in offset order
    buf: bytearray = field(default_factory=bytearray)
    at: int = 0  # pack offset of buf[0]
    next: int = 0  # index into todo of the next blob to verify


def scan_pack(repo: Repository, pack_id: str, size: int, entries: list[PackEntry]) -> PackScan:
    """Hash the stored pack (at most ``size`` bytes plus one: an object grown since it was listed does
    not match) and verify every entry's blob in the same pass."""
    hasher, scan = blake3.blake3(), PackScan()
    st = _Stream(sorted(entries, key=lambda e: (e.offset, e.length)))
    left = size + 1
    with storage_errors(), repo.backend.get(pack_key(pack_id)) as f:
        while left > 0 and (chunk := f.read(min(_CHUNK, left))):
            hasher.update(chunk)
            left -= len(chunk)
            st.buf += chunk
            _verify_ready(repo, pack_id, st, scan)
    scan.bad.extend((e, "beyond the end of the stored pack") for e in st.todo[st.next :])
    scan.content_hash = hasher.hexdigest()
    return scan


def _verify_ready(repo: Repository, pack_id: str, st: _Stream, scan: PackScan) -> None:
    """Verify every pending blob wholly in the buffer, then drop the bytes no later blob needs."""
    end = st.at + len(st.buf)
    while st.next < len(st.todo) and st.todo[st.next].offset + st.todo[st.next].length <= end:
        e = st.todo[st.next]
        sealed = memoryview(st.buf)[e.offset - st.at : e.offset - st.at + e.length]
        try:
            open_blob(repo, e.id, sealed, pack_key(pack_id), e.raw_length)
            scan.good.append(e)
        except IntegrityError as exc:
            scan.bad.append((e, exc.message))
        finally:
            sealed.release()  # a live view would forbid resizing the buffer
        st.next += 1
    keep_from = st.todo[st.next].offset if st.next < len(st.todo) else end
    drop = min(max(0, keep_from - st.at), len(st.buf))
    del st.buf[:drop]
    st.at += drop
