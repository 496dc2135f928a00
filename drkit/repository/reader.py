"""Blob ids → verified bytes. Every blob is authenticated (AES-GCM with its id as associated
data), decompressed and re-hashed against its id before a single byte is handed out."""

from __future__ import annotations

from typing import Protocol

from storage_backends import Backend

from ..core.errors import IntegrityError, MissingBlob
from ..pipeline import SEAL_OVERHEAD, BlobHasher, Cipher, decompress_view
from .format import pack_key
from .index import Index, Location
from .storage_errors import storage_errors


class _Repo(Protocol):
    backend: Backend
    cipher: Cipher
    hasher: BlobHasher
    index: Index


def locate(repo: _Repo, blob_id: bytes) -> Location:
    """Where the index has the blob; ``MissingBlob`` if it has not."""
    loc = repo.index.get(blob_id)
    if loc is None:
        raise MissingBlob(f"blob {blob_id.hex()[:16]} is not in the index (missing data)")
    return loc


def read_blob(repo: _Repo, blob_id: bytes) -> bytes:
    loc = locate(repo, blob_id)
    key = pack_key(loc.pack_id)
    with storage_errors():
        sealed = repo.backend.get_range(key, loc.offset, loc.length)
    return open_blob(repo, blob_id, sealed, key, loc.raw_length)


def open_blob(
    repo: _Repo, blob_id: bytes, sealed: bytes | memoryview, where: str, raw_length: int | None = None
) -> bytes:
    """Authenticate, decompress (to at most ``raw_length`` bytes, the recorded length) and verify one
    sealed blob read from ``where``."""
    try:
        plain = repo.cipher.open(sealed, blob_id)
    except IntegrityError:
        raise _damaged(blob_id, where) from None
    raw = _verified(repo, blob_id, plain, where, raw_length)
    return raw if isinstance(raw, bytes) else bytes(raw)


def open_blob_into(
    repo: _Repo,
    blob_id: bytes,
    sealed: bytes | memoryview,
    where: str,  # noqa: PLR0913
    out: memoryview,
    raw_length: int | None = None,
) -> bytes | memoryview:
    """``open_blob`` decrypting into ``out`` (at least ``len(sealed) - SEAL_OVERHEAD`` bytes), so
    nothing is allocated for a blob stored uncompressed: the result is then a view into ``out``."""
    plain = out[: max(0, len(sealed) - SEAL_OVERHEAD)]
    try:
        repo.cipher.open_into(sealed, blob_id, plain)
    except IntegrityError:
        raise _damaged(blob_id, where) from None
    return _verified(repo, blob_id, plain, where, raw_length)


def _verified(
    repo: _Repo, blob_id: bytes, plain: bytes | memoryview, where: str, raw_length: int | None
) -> bytes | memoryview:
    """The decompressed blob (never inflated beyond ``raw_length``), checked against its id."""
    try:
        raw = decompress_view(plain, raw_length)
    except IntegrityError as exc:
        raise IntegrityError(f"{where}: blob {blob_id.hex()[:16]}: {exc.message}") from None
    if repo.hasher.digest(raw) != blob_id:
        raise IntegrityError(f"{where}: blob {blob_id.hex()[:16]} does not match its id")
    return raw


def _damaged(blob_id: bytes, where: str) -> IntegrityError:
    return IntegrityError(f"{where}: blob {blob_id.hex()[:16]} fails authentication (damaged pack)")
