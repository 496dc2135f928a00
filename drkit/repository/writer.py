"""Stream → chunks → dedup → compress + seal → packs → upload, in bounded memory.

The calling thread reads and chunks the stream. A worker pool hashes each chunk (keyed BLAKE3)
and, unless the blob is already known, compresses it, reserves its slot in the open pack (under a
lock) and seals it straight into that slot (``packbuf``: reusable pack-sized buffers; the C
libraries release the GIL). A full pack is uploaded from its buffer by a small upload pool, and
the buffer then serves a later pack. The calling thread takes the workers' results in stream
order, for the blob ids, the statistics and the progress. ``add_data`` (file backups) hashes on the
calling thread instead, so it returns the id at once, and hands chunks to the workers in batches.
Memory is bounded by the chunks in flight, each worker's compressed chunk, ``uploaders + 1`` pack buffers
(nothing sealed is queued or copied) and the ids of blobs sealed but not yet indexed (``_seen``). The
counts follow the CPUs and the store (core/concurrency.py; pack buffers stay under ``UPLOAD_MEMORY``).

Write order: packs, then their index (``flush``), then the caller's snapshot: an interrupted backup
leaves only unreferenced packs.

Resuming (docs/repository-safety.md): an index object every 64 packs or ``checkpoint`` (60 s,
``DRKIT_INDEX_CHECKPOINT``); a failed or stopped run indexes its uploaded packs on the way out.

Deduplication uses only blobs indexed in packs that are not pending deletion (``Index.usable``): a
blob found only in a pending pack is stored again, so a backup never keeps a marked pack alive
through its own writes (docs/FORMAT.md §13). Nor does it reference a pack the storage lost
(packlist.py): the writer notes every pack it deduplicates into (and those of blob lists reused from
a parent snapshot), and ``flush`` checks that the storage still holds each; if one is gone it raises
``LostPack`` (exit 13), so no snapshot referencing it is written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

from storage_backends import BackendError

from ..core import clock, tracing
from ..core.durations import parse_duration
from ..core.errors import StorageError
from ..pipeline import SEAL_OVERHEAD, compress, iter_chunks
from ..pipeline.chunker import DEFAULT_READ_SIZE
from .format import content_id, index_key, pack_key
from .index import MAX_OBJECT_ENTRIES, PackRecord, encode_index
from .pack import BLOB_DATA
from .packbuf import Buffers, OpenPack
from .packlist import LostPack, missing_packs
from .repo import Repository
from .storage_errors import storage_errors

INDEX_FLUSH_PACKS = 64  # write an index object at least every N packs (or MAX_OBJECT_ENTRIES entries)
INDEX_CHECKPOINT = 60.0  # ... and once its oldest pack was uploaded this long ago (DRKIT_INDEX_CHECKPOINT)
# add_data hands chunks to the workers in batches (a round trip per small chunk cost more than sealing
# it); a batch goes at this many bytes (so a large chunk goes at once) or this many chunks
BATCH_BYTES = 256 << 10
BATCH_CHUNKS = 64
QUEUED_BYTES = 4 << 20  # add_data's chunks waiting for or in a worker, at most (bounds memory)
QUEUED_CHUNKS = 64  # batches
STREAM_AHEAD = 4  # write_stream's chunks in flight beyond one per worker

log = logging.getLogger(__name__)


def checkpoint_interval() -> float:
    """``DRKIT_INDEX_CHECKPOINT`` (a duration; a bad one is exit 2), else 60 s."""
    raw = os.environ.get("DRKIT_INDEX_CHECKPOINT")
    return parse_duration(raw) if raw else INDEX_CHECKPOINT


@dataclass(kw_only=True)
class WriteStats:
    chunks: int = 0
    bytes_read: int = 0
    new_blobs: int = 0
    new_bytes: int = 0  # plaintext bytes of new blobs
    stored_bytes: int = 0  # bytes uploaded in packs
    packs: int = 0


@dataclass
class BlobRef:
    id: bytes
    length: int


@dataclass(kw_only=True)
class BlobWriter:
    """Adds blobs to a repository. Use as a context manager or call ``flush`` then ``close``."""

    repo: Repository
    workers: int = 0  # 0: the repository's plan (core/concurrency.py: one per usable CPU)
    uploaders: int = 0  # 0: the plan's uploads (a local disk: one; a remote store: more, memory-capped)
    stats: WriteStats = field(default_factory=WriteStats)
    progress: Callable[[int], None] | None = None  # called with each data chunk's length, in order
    resumable: bool = True  # a failed run indexes the packs it uploaded (off for prune's repacking)

    def __post_init__(self) -> None:
        if not self.workers or not self.uploaders:
            log.info("%s", (plan := self.repo.concurrency()).describe())
            self.workers = self.workers or plan.seal_workers
            self.uploaders = self.uploaders or plan.uploads
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="drkit-seal")
        self._upload_pool = ThreadPoolExecutor(self.uploaders, thread_name_prefix="drkit-upload")
        self._buffers = Buffers(self.uploaders + 1, self.repo.config.pack_size)  # the open pack + uploads
        self._lock = threading.Lock()  # the open pack, the seen set, the index, uploads, stored stats
        self._uploads: list[Future[PackRecord]] = []
        self._records_lock = threading.Lock()  # the two lists below; taken after _lock, never before
        self._unindexed: list[PackRecord] = []  # uploaded packs no index object names yet
        self._indexed: list[tuple[str, list[PackRecord]]] = []  # index objects written, not yet in repo.index
        self._unindexed_since = 0.0  # when the oldest of them was uploaded (clock.monotonic)
        self._checkpoint = checkpoint_interval()
        self._seen: set[bytes] = set()
        self._pack: OpenPack | None = None
        self._level = self.repo.config.compression_level
        self._queue: deque[Future[list[BlobRef]]] = deque()  # add_data's chunks being sealed, in batches
        self._queued = 0  # their bytes
        self._pending: set[bytes] = set()  # their ids
        self._batch: list[tuple[bytes, bytes | memoryview]] = []  # small chunks not yet handed over
        self._batch_bytes = 0
        # one flag per index entry this run references without storing the blob again (packlist.py)
        self._used = bytearray(self.repo.index.entries)
        self._used_of = self.repo.index  # entry numbers are this index's

    # -- storing (worker threads, and the calling thread for add_blob) ------------------------
    def _known(self, blob_id: bytes) -> bool:
        with self._lock:
            if blob_id in self._seen:
                return True
            e = self.repo.index.usable_entry(blob_id)
            if e < 0:
                return False
            if e < len(self._used):  # else an entry of a pack this run wrote
                self._used[e] = 1
            return True

    def reuse(self, hex_ids: list[str]) -> bool:
        """Whether blobs a parent snapshot lists may be referenced again without being stored (a file
        unchanged since then); their packs are checked like deduplicated ones. False if one is in no
        index (lost, and dropped by `drkit repair index`): the caller reads the data again."""
        index, used = self.repo.index, self._used
        for hex_id in hex_ids:
            blob_id = bytes.fromhex(hex_id)
            e = index.find(blob_id)
            if e < 0:
                if blob_id not in self._pending and blob_id not in self._seen:  # nor stored in this run
                    return False
            elif e < len(used):
                used[e] = 1
        return True

    def _used_packs(self) -> set[str]:
        """The indexed packs this run references without having written them."""
        used, index = self._used, self.repo.index
        if index is not self._used_of:  # reloaded meanwhile (a lock's refresh_marks): check every pack
            return {p for p in index.pack_sizes if p not in index.excluded}
        if used.find(1) < 0:
            return set()
        packs = set()
        for pack_id in index.pack_sizes:
            first, n = index.run(pack_id)
            if first < len(used) and used.find(1, first, first + n) >= 0:
                packs.add(pack_id)
        return packs

    def _process(self, chunk: bytes | memoryview, blob_type: int = BLOB_DATA) -> BlobRef:
        blob_id = self.repo.hasher.digest(chunk)
        if not self._known(blob_id):
            self._seal(blob_id, chunk, blob_type)
        return BlobRef(blob_id, len(chunk))

    def _seal(self, blob_id: bytes, chunk: bytes | memoryview, blob_type: int = BLOB_DATA) -> BlobRef:
        """Compress a new blob, then seal it straight into its slot of the open pack."""
        plain = compress(chunk, self._level)
        n = len(plain) + SEAL_OVERHEAD
        with self._lock:
            if blob_id in self._seen or self.repo.index.usable(blob_id):  # sealed meanwhile by another worker
                return BlobRef(blob_id, len(chunk))
            self._seen.add(blob_id)
            self.stats.new_blobs += 1
            self.stats.new_bytes += len(chunk)
            if self._pack is not None and not self._pack.fits(n):
                self._upload_open_pack()
            if self._pack is None:
                self._pack = OpenPack(self._buffers.get())  # waits for an upload to end if need be
            pack = self._pack
            slot = pack.reserve(blob_type, blob_id, n, len(chunk))
        ok = False
        try:
            self.repo.cipher.seal_into(plain, blob_id, slot)
            ok = True
        finally:
            pack.written(slot, ok)
        return BlobRef(blob_id, len(chunk))

    def _seal_batch(self, batch: list[tuple[bytes, bytes | memoryview]]) -> list[BlobRef]:
        return [self._seal(blob_id, chunk) for blob_id, chunk in batch]

    # -- in stream order (calling thread) ---------------------------------------------------
    def _count(self, ref: BlobRef) -> BlobRef:
        """Account one data chunk in stream order; reap finished uploads (a failure is raised here,
        not only at ``flush``) and write an index object every ``INDEX_FLUSH_PACKS`` packs."""
        self.stats.chunks += 1
        self.stats.bytes_read += ref.length
        if self.progress is not None:
            self.progress(ref.length)
        self._raise_failed_uploads()
        return ref

    def write_stream(self, stream: BinaryIO, *, read_size: int = DEFAULT_READ_SIZE) -> list[BlobRef]:
        """Store a stream's content as data blobs; return their ids and lengths in order."""
        refs: list[BlobRef] = []
        inflight: deque[Future[BlobRef]] = deque()
        limit = self.workers + STREAM_AHEAD
        for chunk in iter_chunks(stream, self.repo.config.chunker, read_size=read_size):
            inflight.append(self._pool.submit(self._process, chunk))
            if len(inflight) >= limit:
                refs.append(self._take(inflight.popleft()))
        while inflight:
            refs.append(self._take(inflight.popleft()))
        return refs

    def _take(self, fut: Future[BlobRef]) -> BlobRef:
        return self._count(fut.result())

    def add_blob(self, blob_type: int, data: bytes) -> bytes:
        """Store one small blob (a tree or list) synchronously; return its id."""
        ref = self._process(data, blob_type)
        if blob_type == BLOB_DATA:
            self._count(ref)
        return ref.id

    def add_data(self, chunk: bytes | memoryview, blob_id: bytes | None = None) -> bytes:
        """Store one chunk of file data and return its id, at once: the id is hashed here (or given: a reader
        thread hashed it), while a new chunk is compressed and sealed by a worker (small ones in batches; ``flush``
        waits for them). ``chunk`` must not change until then; a view into a larger buffer is fine."""
        blob_id = blob_id or self.repo.hasher.digest(chunk)
        if blob_id in self._pending or self._known(blob_id):
            self._count(BlobRef(blob_id, len(chunk)))
            return blob_id
        self._pending.add(blob_id)
        self._batch.append((blob_id, chunk))
        self._batch_bytes += len(chunk)
        if self._batch_bytes >= BATCH_BYTES or len(self._batch) >= BATCH_CHUNKS:
            self._hand_over_batch()
        return blob_id

    def _hand_over_batch(self) -> None:
        batch, size = self._batch, self._batch_bytes
        if not batch:
            return
        self._batch, self._batch_bytes = [], 0
        self._queue.append(self._pool.submit(self._seal_batch, batch))
        self._queued += size
        while self._queued > QUEUED_BYTES or len(self._queue) > QUEUED_CHUNKS:
            self._take_queued()

    def _take_queued(self) -> None:
        for ref in self._queue.popleft().result():
            self._count(ref)
            self._queued -= ref.length
            self._pending.discard(ref.id)

    # -- packs and index --------------------------------------------------------------------
    def _upload_open_pack(self) -> None:
        """Hand the open pack to an uploader (with ``_lock`` held)."""
        if self._pack is None:
            return
        pack, self._pack = self._pack, None
        self._uploads.append(self._upload_pool.submit(self._upload, pack))

    def _upload(self, pack: OpenPack) -> PackRecord:
        """Store the pack, then an index object if due; never takes ``_lock`` (a worker may hold it,
        waiting for a buffer only an upload frees)."""
        record = self._store(pack)
        with self._records_lock:
            if not self._unindexed:
                self._unindexed_since = clock.monotonic()
            self._unindexed.append(record)
            if (
                len(self._unindexed) >= INDEX_FLUSH_PACKS
                or sum(len(r.entries) for r in self._unindexed) >= MAX_OBJECT_ENTRIES
                or clock.monotonic() - self._unindexed_since >= self._checkpoint
            ):
                self._write_index()
        return record

    def _store(self, pack: OpenPack) -> PackRecord:
        stored = False
        try:
            self.repo.require_lock("upload a pack")
            data = pack.finish(self.repo.cipher)
            try:
                pack_id = content_id(data)
                with storage_errors():
                    self.repo.backend.put(pack_key(pack_id), data)
                stored = True
                return PackRecord(pack_id, len(data), pack.entries)
            finally:
                with contextlib.suppress(BufferError):  # a failed put's error may still hold a view
                    data.release()  # before the buffer is reused
        finally:
            # After a failed put the buffer is not reused: views of it may live on in the error's
            # traceback (a backend's write loop), and a later pack growing it for an oversized blob
            # then failed with BufferError instead of the storage error.
            if stored:
                self._buffers.put(pack.buf)
            else:
                self._buffers.drop()

    def _raise_failed_uploads(self) -> None:
        # Runs for every chunk: look at the oldest upload before taking the lock the sealing workers
        # need (only this thread removes uploads; workers only append, so the look is safe). An
        # upload that ends before an older one is reaped with it.
        uploads = self._uploads
        if not uploads or not uploads[0].done():
            return
        with self._lock:
            done = [f for f in self._uploads if f.done()]
            for f in done:
                self._uploads.remove(f)
                record = f.result()  # re-raises an upload failure
                self.stats.packs += 1
                self.stats.stored_bytes += record.size
            self._apply_indexed()

    def _write_index(self) -> None:
        """Index the uploaded packs no index object names yet (``_records_lock`` held)."""
        if not self._unindexed:
            return
        # a lost lock: a prune may have deleted these packs as orphans meanwhile; never index them
        self.repo.require_lock("write an index object")
        sealed = encode_index(self._unindexed, self.repo.cipher)
        index_id = content_id(sealed)
        with storage_errors():
            self.repo.backend.put(index_key(index_id), sealed)
        self._indexed.append((index_id, self._unindexed))
        self._unindexed = []

    def _apply_indexed(self) -> None:
        """Add the index objects written so far to ``repo.index`` (``_lock`` held: workers read it)."""
        with self._records_lock:
            written, self._indexed = self._indexed, []
        for index_id, records in written:
            self.repo.index_ids.add(index_id)
            for record in records:
                self.repo.index.add_pack(record, index_id)
                self._seen.difference_update(e.id for e in record.entries)  # found in the index now

    def flush(self) -> None:
        """Store what is queued, upload the open pack, wait for every upload, then write the index naming them."""
        self._hand_over_batch()
        while self._queue:
            self._take_queued()
        with self._lock:
            self._upload_open_pack()
            uploads = list(self._uploads)
        with tracing.span("drkit.upload.wait", **{"drkit.uploads": len(uploads)}):
            _ = [f.exception() for f in uploads]  # wait
        self._raise_failed_uploads()
        with self._records_lock, tracing.span("drkit.index.write"):
            self._write_index()
        with self._lock:
            self._apply_indexed()
        if missing := missing_packs(self.repo, self._used_packs()):  # before the caller writes its snapshot
            raise LostPack(min(missing))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._upload_pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        self.close()
        if exc is not None and self.resumable:
            self.salvage(exc)

    def salvage(self, exc: BaseException) -> None:
        """After a failed or stopped run (``close`` ended the uploads): index the packs uploaded, for the
        next run. Best effort; not after a storage failure (another retry window) nor a lost lock."""
        if isinstance(exc, StorageError | BackendError):
            return
        with self._records_lock:  # every finished upload is in _unindexed or already indexed
            packs = len(self._unindexed)
            try:
                self._write_index()
            except Exception as err:  # noqa: BLE001 - the run's own error is what it reports
                log.warning("could not index the %d packs this run uploaded: %s", packs, err)
                return
        if packs:
            log.info("indexed the %d packs this run uploaded before it stopped; the next run reuses them", packs)


def iter_refs(refs: Iterable[BlobRef]) -> Iterator[bytes]:
    return (r.id for r in refs)
