"""Blob ids: keyed BLAKE3 of a chunk's plaintext, so ids reveal nothing without the repository key."""

from __future__ import annotations

import blake3

KEY_SIZE = 32
DIGEST_SIZE = 32


class BlobHasher:
    """Thread-safe: every digest uses a fresh hasher (blake3 releases the GIL while hashing)."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError(f"BLAKE3 key must be {KEY_SIZE} bytes")
        self._key = bytes(key)

    def __repr__(self) -> str:
        return "BlobHasher(key=<redacted>)"

    def digest(self, data: bytes | memoryview) -> bytes:
        """The 32-byte keyed BLAKE3 of ``data``."""
        return blake3.blake3(data, key=self._key).digest()
