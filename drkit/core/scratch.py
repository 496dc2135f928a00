"""Per-thread reusable byte buffers for the hot paths (sealing, reading and opening pack ranges).

A fresh ``bytes`` object per blob costs an allocation and, for large ones, page faults that measured
more than AES-GCM itself; a buffer reused by its thread costs neither. A view handed out stays valid
until the same thread asks the same ``Scratch`` for a buffer again.

Buffers are anonymous memory maps, not ``bytearray``s (which zero every page at once): a page
becomes resident only when first written, so a buffer a thread takes but never fills (the run read
buffer of a restore from S3 or GCS, whose bytes come from ``get_range`` instead) costs no memory.
"""

from __future__ import annotations

import mmap
import threading


class Scratch:
    """One reusable buffer per thread, grown on demand; a request over ``keep`` bytes gets a
    one-off buffer, so a rare huge object does not pin its size for the thread's lifetime."""

    def __init__(self, *, minimum: int = 1 << 20, keep: int = 20 << 20) -> None:
        self.minimum, self.keep = minimum, keep
        self._local = threading.local()

    def view(self, size: int) -> memoryview:
        """A writable view of exactly ``size`` bytes (its previous content is undefined)."""
        buf: mmap.mmap | None = getattr(self._local, "buf", None)
        if buf is None or len(buf) < size:
            buf = mmap.mmap(-1, max(size, self.minimum))  # a new object: an exported buffer is never resized
            if size <= self.keep:
                self._local.buf = buf
        return memoryview(buf)[:size]
