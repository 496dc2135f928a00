"""Stream → chunks → dedup → compress + seal → packs → upload, in bounded memory.

The calling thread reads and chunks the stream. A worker pool hashes each chunk (keyed BLAKE3)
and, unless the blob is already known, compresses and seals it (the C libraries release the
GIL). Results are consumed in stream order by the calling thread, which appends new blobs to the
open pack; a full pack is uploaded by a small upload pool. Memory is bounded by the chunks in
flight, one open pack and the packs being uploaded.

Write order: packs, then the index that names them (``flush``); callers write the snapshot only
after ``flush`` returned, so an interrupted backup leaves only unreferenced packs.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

from ..pipeline import compress, iter_chunks
from .format import content_id, index_key, pack_key
from .index import PackRecord, encode_index
from .pack import BLOB_DATA, PackBuilder
from .repo import Repository
from .storage_errors import storage_errors

INDEX_FLUSH_PACKS = 64  # write an index object at least every N packs


@dataclass
class WriteStats:
    chunks: int = 0
    bytes_read: int = 0
    new_blobs: int = 0
    new_bytes: int = 0  # plaintext bytes of new blobs
    stored_bytes: int = 0  # bytes uploaded in packs
    packs: int = 0


@dataclass
class _Processed:
    blob_id: bytes
    raw_length: int
    sealed: bytes | None


@dataclass
class BlobRef:
    id: bytes
    length: int


@dataclass
class BlobWriter:
    """Adds blobs to a repository. Use as a context manager or call ``flush`` then ``close``."""

    repo: Repository
    workers: int = 2
    uploaders: int = 2
    stats: WriteStats = field(default_factory=WriteStats)
    progress: Callable[[int], None] | None = None  # called with each data chunk's length, in order

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="drkit-seal")
        self._upload_pool = ThreadPoolExecutor(self.uploaders, thread_name_prefix="drkit-upload")
        self._upload_slots = threading.BoundedSemaphore(self.uploaders + 1)
        self._uploads: list[Future[PackRecord]] = []
        self._unindexed: list[PackRecord] = []
        self._seen: set[bytes] = set()
        self._builder = PackBuilder()
        self._level = self.repo.config.compression_level

    # -- per-blob work (worker threads) -----------------------------------------------------
    def _known(self, blob_id: bytes) -> bool:
        return blob_id in self._seen or blob_id in self.repo.index

    def _process(self, chunk: bytes | memoryview) -> _Processed:
        blob_id = self.repo.hasher.digest(chunk)
        if self._known(blob_id):
            return _Processed(blob_id, len(chunk), None)
        sealed = self.repo.cipher.seal(compress(chunk, self._level), blob_id)
        return _Processed(blob_id, len(chunk), sealed)

    # -- ordered consumption (calling thread) -----------------------------------------------
    def _accept(self, p: _Processed, blob_type: int) -> None:
        if blob_type == BLOB_DATA:
            self.stats.chunks += 1
            self.stats.bytes_read += p.raw_length
            if self.progress is not None:
                self.progress(p.raw_length)
        if p.sealed is None or self._known(p.blob_id):
            return
        self._seen.add(p.blob_id)
        self.stats.new_blobs += 1
        self.stats.new_bytes += p.raw_length
        self._builder.add(blob_type, p.blob_id, p.sealed, p.raw_length)
        if self._builder.size >= self.repo.config.pack_size:
            self._upload_open_pack()

    def write_stream(self, stream: BinaryIO) -> list[BlobRef]:
        """Store a stream's content as data blobs; return their ids and lengths in order."""
        refs: list[BlobRef] = []
        inflight: deque[Future[_Processed]] = deque()
        limit = 2 * self.workers + 2
        for chunk in iter_chunks(stream, self.repo.config.chunker):
            inflight.append(self._pool.submit(self._process, chunk))
            if len(inflight) >= limit:
                refs.append(self._take(inflight.popleft()))
        while inflight:
            refs.append(self._take(inflight.popleft()))
        return refs

    def _take(self, fut: Future[_Processed]) -> BlobRef:
        p = fut.result()
        self._accept(p, BLOB_DATA)
        self._raise_failed_uploads()
        return BlobRef(p.blob_id, p.raw_length)

    def add_blob(self, blob_type: int, data: bytes) -> bytes:
        """Store one small blob (a tree or list) synchronously; return its id."""
        p = self._process(data)
        self._accept(p, blob_type)
        return p.blob_id

    # -- packs and index --------------------------------------------------------------------
    def _upload_open_pack(self) -> None:
        if not len(self._builder):
            return
        builder, self._builder = self._builder, PackBuilder()
        self._upload_slots.acquire()
        self._uploads.append(self._upload_pool.submit(self._upload, builder))

    def _upload(self, builder: PackBuilder) -> PackRecord:
        try:
            data = builder.finish(self.repo.cipher)
            pack_id = content_id(data)
            with storage_errors():
                self.repo.backend.put(pack_key(pack_id), data)
            return PackRecord(pack_id, len(data), builder.entries)
        finally:
            self._upload_slots.release()

    def _raise_failed_uploads(self) -> None:
        done = [f for f in self._uploads if f.done()]
        for f in done:
            self._uploads.remove(f)
            record = f.result()  # re-raises an upload failure
            self._unindexed.append(record)
            self.stats.packs += 1
            self.stats.stored_bytes += record.size
        if len(self._unindexed) >= INDEX_FLUSH_PACKS:
            self._write_index()

    def _write_index(self) -> None:
        if not self._unindexed:
            return
        sealed = encode_index(self._unindexed, self.repo.cipher)
        with storage_errors():
            self.repo.backend.put(index_key(content_id(sealed)), sealed)
        for record in self._unindexed:
            self.repo.index.add_pack(record)
        self._unindexed = []

    def flush(self) -> None:
        """Upload the open pack, wait for every upload, then write the index naming them."""
        self._upload_open_pack()
        for f in list(self._uploads):
            f.exception()  # wait
        self._raise_failed_uploads()
        self._write_index()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._upload_pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_refs(refs: Iterable[BlobRef]) -> Iterator[bytes]:
    return (r.id for r in refs)
