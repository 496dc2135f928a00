"""AES-256-GCM sealing: ``nonce (12 random bytes) || ciphertext || tag (16)``, with associated data.

The associated data (a blob id, or an object's role) is authenticated but not stored: opening with other
associated data fails like any tampering does.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..core.errors import IntegrityError
from ..core.scratch import Scratch

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
SEAL_OVERHEAD = NONCE_SIZE + TAG_SIZE
T = TypeVar("T")

# seal() encrypts into a per-thread scratch buffer and copies it out once: building the result as
# ``nonce + encrypt(...)`` allocates twice per blob and measured up to 10x slower with glibc's malloc
_SEAL_SCRATCH = Scratch()


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
        out = _SEAL_SCRATCH.view(len(plaintext) + SEAL_OVERHEAD)
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
        view = _sealed_view(sealed)
        try:
            return self._aead.decrypt(view[:NONCE_SIZE], view[NONCE_SIZE:], aad)
        except InvalidTag:
            raise IntegrityError(_AUTH_FAILED) from None

    def open_into(self, sealed: bytes | memoryview, aad: bytes, out: memoryview) -> None:
        """``open`` into ``out``, which must be ``len(sealed) - SEAL_OVERHEAD`` bytes (holding garbage
        when it fails): a reader reusing one buffer allocates nothing per blob."""
        view = _sealed_view(sealed)
        try:
            self._aead.decrypt_into(view[:NONCE_SIZE], view[NONCE_SIZE:], aad, out)
        except InvalidTag:
            raise IntegrityError(_AUTH_FAILED) from None


_AUTH_FAILED = "authentication failed: data damaged, tampered with, or sealed under another key or context"


def _sealed_view(sealed: bytes | memoryview) -> memoryview:
    if len(sealed) < SEAL_OVERHEAD:
        raise IntegrityError(
            f"authentication failed: sealed data is {len(sealed)} bytes, "
            f"shorter than the {SEAL_OVERHEAD}-byte nonce and tag"
        )
    return memoryview(sealed)


class KeyringCipher(Cipher):
    """Seals with the current key; opens with the current key, else each earlier one in turn (newest
    first). After a key rotation, data sealed before it stays readable while new data uses the new key.
    AES-GCM authentication makes a wrong key fail like tampering, so trying keys in turn is safe."""

    __slots__ = ("_older",)

    def __init__(self, key: bytes, older: tuple[bytes, ...] = ()) -> None:
        super().__init__(key)
        self._older = tuple(Cipher(k) for k in older)

    def open(self, sealed: bytes | memoryview, aad: bytes) -> bytes:
        return self._first_key(lambda cipher: Cipher.open(cipher, sealed, aad))

    def open_into(self, sealed: bytes | memoryview, aad: bytes, out: memoryview) -> None:
        self._first_key(lambda cipher: Cipher.open_into(cipher, sealed, aad, out))

    def _first_key(self, attempt: Callable[[Cipher], T]) -> T:
        """``attempt`` with the current key, else each earlier one; the current key's error if none fits."""
        try:
            return attempt(self)
        except IntegrityError as first:
            for cipher in self._older:
                try:
                    return attempt(cipher)
                except IntegrityError:
                    continue
            raise first from None
