"""BlobHasher: keyed BLAKE3, deterministic per key."""

from __future__ import annotations

import pytest

from drkit.pipeline import BlobHasher

KEY = bytes(range(32))


def test_digest_is_32_bytes_and_deterministic() -> None:
    first = BlobHasher(KEY).digest(b"some chunk")
    assert len(first) == 32
    assert BlobHasher(KEY).digest(b"some chunk") == first


def test_digest_depends_on_key_and_data() -> None:
    hasher = BlobHasher(KEY)
    other_key = BlobHasher(bytes(32))
    assert hasher.digest(b"a") != hasher.digest(b"b")
    assert hasher.digest(b"a") != other_key.digest(b"a")


def test_memoryview_and_bytes_agree() -> None:
    data = bytes(range(256)) * 5000
    hasher = BlobHasher(KEY)
    assert hasher.digest(memoryview(data)[100:200_100]) == hasher.digest(data[100:200_100])


def test_matches_the_blake3_keyed_test_vector() -> None:
    # BLAKE3 reference test_vectors.json, input_len 0, key "whats the Elvish word for friend"
    digest = BlobHasher(b"whats the Elvish word for friend").digest(b"")
    assert digest.hex() == "92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26"


@pytest.mark.parametrize("size", [0, 16, 31, 33])
def test_key_must_be_32_bytes(size: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        BlobHasher(bytes(size))


def test_repr_hides_the_key() -> None:
    assert KEY.hex() not in repr(BlobHasher(KEY))
