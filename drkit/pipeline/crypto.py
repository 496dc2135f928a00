"""AES-256-GCM sealing: ``nonce (12 random bytes) || ciphertext || tag (16)``, with associated data.

The associated data (a blob id, or an object's role) is authenticated but not stored: opening with other
associated data fails like any tampering does.
"""

from __future__ import annotations

import os
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..core.errors import IntegrityError

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
SEAL_OVERHEAD = NONCE_SIZE + TAG_SIZE

# seal() encrypts into a per-thread scratch buffer and copies it out once: building the result as
# ``nonce + encrypt(...)`` allocates twice per blob and measured up to 10x slower with glibc's malloc
_SCRATCH_MIN = 1 << 20
_SCRATCH_KEEP = 20 << 20
_local = threading.local()


def _scratch(size: int) -> memoryview:
    """A writable view of ``size`` bytes, reused by this thread when not too large."""
    buf: bytearray | None = getattr(_local, "scratch", None)
    if buf is None or len(buf) < size:
        buf = bytearray(max(size, _SCRATCH_MIN))  # a new object: an exported buffer is never resized
        if size <= _SCRATCH_KEEP:
            _local.scratch = buf
    return memoryview(buf)[:size]


class Cipher:
    """Thread-safe: ``AESGCM`` is immutable and starts a fresh OpenSSL context for every call."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError(f"AES-256-GCM key must be {KEY_SIZE} bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "Cipher(key=<redacted>)"

    def seal(self, plaintext: bytes | memoryview, aad: bytes) -> bytes:
        """Encrypt and authenticate under a fresh random nonce; adds ``SEAL_OVERHEAD`` bytes."""
        out = _scratch(len(plaintext) + SEAL_OVERHEAD)
        self.seal_into(plaintext, aad, out)
        return bytes(out)

    def seal_into(self, plaintext: bytes | memoryview, aad: bytes, out: memoryview) -> None:
        """``seal`` into ``out``, which must be ``len(plaintext) + SEAL_OVERHEAD`` bytes (nonce ||
        ciphertext || tag)."""
        nonce = os.urandom(NONCE_SIZE)
        out[:NONCE_SIZE] = nonce
        self._aead.encrypt_into(nonce, plaintext, aad, out[NONCE_SIZE:])

    def open(self, sealed: bytes | memoryview, aad: bytes) -> bytes:
        """Check and decrypt a ``seal`` result (same key and ``aad``), else raise ``IntegrityError``."""
        if len(sealed) < SEAL_OVERHEAD:
            raise IntegrityError(
                f"authentication failed: sealed data is {len(sealed)} bytes, "
                f"shorter than the {SEAL_OVERHEAD}-byte nonce and tag"
            )
        view = memoryview(sealed)
        try:
            return self._aead.decrypt(view[:NONCE_SIZE], view[NONCE_SIZE:], aad)
        except InvalidTag:
            raise IntegrityError(
                "authentication failed: data damaged, tampered with, or sealed under another key or context"
            ) from None


class KeyringCipher(Cipher):
    """Seals with the current key; opens with the current key, else each earlier one in turn (newest
    first). After a key rotation, data sealed before it stays readable while new data uses the new key.
    AES-GCM authentication makes a wrong key fail like tampering, so trying keys in turn is safe."""

    __slots__ = ("_older",)

    def __init__(self, key: bytes, older: tuple[bytes, ...] = ()) -> None:
        super().__init__(key)
        self._older = tuple(Cipher(k) for k in older)

    def open(self, sealed: bytes | memoryview, aad: bytes) -> bytes:
        try:
            return super().open(sealed, aad)
        except IntegrityError as first:
            for cipher in self._older:
                try:
                    return cipher.open(sealed, aad)
                except IntegrityError:
                    continue
            raise first from None
