"""A writer for ``--dry-run``: hashes and deduplicates as ``BlobWriter`` does, against the same index,
and counts what a real run would add, but stores nothing (no pack, no index object, no lock: the
repository is left byte for byte as it was). The stored size is estimated by compressing each new blob
(at the repository's level) and adding the seal's overhead; pack headers are not counted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..pipeline import SEAL_OVERHEAD, compress
from .pack import BLOB_DATA
from .repo import Repository
from .writer import WriteStats


@dataclass
class DryRunWriter:
    repo: Repository
    stats: WriteStats = field(default_factory=WriteStats)
    progress: Callable[[int], None] | None = None  # called with each data chunk's length, in order

    def __post_init__(self) -> None:
        self._seen: set[bytes] = set()
        self._level = self.repo.config.compression_level

    def _add(self, chunk: bytes | memoryview, blob_id: bytes | None = None) -> bytes:
        blob_id = blob_id or self.repo.hasher.digest(chunk)
        if blob_id not in self._seen and not self.repo.index.usable(blob_id):
            self._seen.add(blob_id)
            self.stats.new_blobs += 1
            self.stats.new_bytes += len(chunk)
            self.stats.stored_bytes += len(compress(chunk, self._level)) + SEAL_OVERHEAD
        return blob_id

    def add_blob(self, blob_type: int, data: bytes) -> bytes:
        blob_id = self._add(data)
        if blob_type == BLOB_DATA:
            self._count(len(data))
        return blob_id

    def add_data(self, chunk: bytes | memoryview, blob_id: bytes | None = None) -> bytes:
        blob_id = self._add(chunk, blob_id)
        self._count(len(chunk))
        return blob_id

    def _count(self, n: int) -> None:
        self.stats.chunks += 1
        self.stats.bytes_read += n
        if self.progress is not None:
            self.progress(n)

    def reuse(self, hex_ids: list[str]) -> bool:
        """As ``BlobWriter.reuse``: an unchanged file's blobs are reused if every one is indexed."""
        return all(self.repo.index.find(b) >= 0 or b in self._seen for b in map(bytes.fromhex, hex_ids))
