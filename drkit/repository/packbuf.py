"""Pack assembly in reusable buffers, for ``BlobWriter``.

A pack is built in place. A blob's space is reserved in the open pack's buffer (under the writer's
lock), then the worker seals the blob straight into it (``Cipher.seal_into``), outside the lock,
while other workers fill other slots. ``finish`` waits for the slots still being written, appends
the sealed header and the trailer (the layout of ``pack.py``) and returns a view of the complete
pack, uploaded from there; afterwards the buffer serves a later pack. So a sealed blob is never a
separate object to copy or queue, and memory holds a fixed number of pack-sized buffers instead of
16 MiB blocks churning through the allocator's per-thread arenas (which keep the most they ever
held). The buffers are anonymous memory maps, page-aligned: a local store writes a pack from its
buffer with O_DIRECT, past the page cache (``storage_backends/local.py``).
"""

from __future__ import annotations

import mmap
import threading

from ..core.errors import IntegrityError
from ..pipeline import SEAL_OVERHEAD, Cipher
from .format import AAD_PACK_HEADER
from .pack import _ENTRY, _TRAILER, PackEntry


class OpenPack:
    """A pack being filled: slots for sealed blobs, then (``finish``) the sealed header and the trailer."""

    def __init__(self, buf: bytearray | mmap.mmap) -> None:
        self.buf = buf
        self.size = 0
        self.entries: list[PackEntry] = []
        self._writing = 0  # slots reserved and not written yet
        self._broken = False
        self._done = threading.Condition()

    def fits(self, n: int) -> bool:
        """Whether a blob of ``n`` sealed bytes still fits, with the header that would then follow."""
        return self.size + n + _ENTRY.size * (len(self.entries) + 1) + SEAL_OVERHEAD + _TRAILER.size <= len(self.buf)

    def reserve(self, blob_type: int, blob_id: bytes, n: int, raw_length: int) -> memoryview:
        """A slot of ``n`` bytes for one sealed blob (the caller serialises reservations); ``written``
        must follow, whatever happens."""
        if not self.fits(n):  # only a blob larger than a whole pack, alone in a fresh one: a buffer its size
            self.buf = bytearray(self.size + n + _ENTRY.size + SEAL_OVERHEAD + _TRAILER.size)
        self.entries.append(PackEntry(type=blob_type, id=blob_id, offset=self.size, length=n, raw_length=raw_length))
        with self._done:
            self._writing += 1
        slot = memoryview(self.buf)[self.size : self.size + n]
        self.size += n
        return slot

    def written(self, slot: memoryview, ok: bool) -> None:
        slot.release()
        with self._done:
            self._writing -= 1
            self._broken |= not ok
            self._done.notify_all()

    def finish(self, cipher: Cipher) -> memoryview:
        """The complete pack, once every slot is written: a view of the buffer (release it before the
        buffer is reused)."""
        with self._done:
            while self._writing:
                self._done.wait()
            if self._broken:
                raise IntegrityError("a blob of this pack failed to seal; the pack is not stored")
        header = b"".join(_ENTRY.pack(e.type, e.id, e.offset, e.length, e.raw_length) for e in self.entries)
        tail = cipher.seal(header, AAD_PACK_HEADER)
        tail += _TRAILER.pack(len(tail))
        end = self.size + len(tail)
        self.buf[self.size : end] = tail
        return memoryview(self.buf)[:end]


class Buffers:
    """At most ``count`` pack buffers of ``size`` bytes, made on first use, then handed out again."""

    def __init__(self, count: int, size: int) -> None:
        self.size = size
        self._free: list[mmap.mmap] = []
        self._left = count
        self._ready = threading.Condition()

    def get(self) -> mmap.mmap:
        """A buffer; waits while all of them are in use (an upload gives one back). Anonymous memory
        maps: page-aligned, so a local store writes them with O_DIRECT (storage_backends/local.py)."""
        with self._ready:
            while not self._free and not self._left:
                self._ready.wait()
            if self._free:
                return self._free.pop()
            self._left -= 1
        return mmap.mmap(-1, self.size)

    def drop(self) -> None:
        """A buffer handed out will not come back: a new one may be made in its place."""
        with self._ready:
            self._left += 1
            self._ready.notify()

    def put(self, buf: bytearray | mmap.mmap) -> None:
        if not isinstance(buf, mmap.mmap) or len(buf) != self.size:  # one made for an oversized blob: let it go
            self.drop()
            return
        with self._ready:
            self._free.append(buf)
            self._ready.notify()
