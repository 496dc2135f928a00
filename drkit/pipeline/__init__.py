"""Pure data transforms of the backup pipeline: chunk, hash, compress, seal (no I/O besides stream reads)."""

from __future__ import annotations

from .chunker import ChunkerParams, chunk_buffer, iter_chunks
from .compress import CODEC_RAW, CODEC_ZSTD, compress, decompress, decompress_view
from .crypto import SEAL_OVERHEAD, Cipher, KeyringCipher
from .hashing import BlobHasher

__all__ = [
    "CODEC_RAW",
    "CODEC_ZSTD",
    "SEAL_OVERHEAD",
    "BlobHasher",
    "ChunkerParams",
    "Cipher",
    "KeyringCipher",
    "chunk_buffer",
    "compress",
    "decompress",
    "decompress_view",
    "iter_chunks",
]
