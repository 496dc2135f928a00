"""Cipher: AES-256-GCM seal/open; every kind of damage is an IntegrityError."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from drkit.core.errors import IntegrityError
from drkit.pipeline import SEAL_OVERHEAD, Cipher, KeyringCipher

KEY = bytes(range(32))
AAD = b"blob-id"
PLAINTEXT = b"the quick brown fox " * 100


def test_round_trip_and_overhead() -> None:
    cipher = Cipher(KEY)
    sealed = cipher.seal(PLAINTEXT, AAD)
    assert SEAL_OVERHEAD == 28
    assert len(sealed) == len(PLAINTEXT) + SEAL_OVERHEAD
    assert PLAINTEXT[:20] not in sealed
    assert cipher.open(sealed, AAD) == PLAINTEXT


def test_empty_plaintext_and_memoryviews() -> None:
    cipher = Cipher(KEY)
    assert cipher.open(memoryview(cipher.seal(b"", AAD)), AAD) == b""
    assert cipher.open(memoryview(cipher.seal(memoryview(PLAINTEXT), AAD)), AAD) == PLAINTEXT


def test_nonce_is_fresh_each_time() -> None:
    cipher = Cipher(KEY)
    first, second = cipher.seal(PLAINTEXT, AAD), cipher.seal(PLAINTEXT, AAD)
    assert first[:12] != second[:12]
    assert first != second


@pytest.mark.parametrize("where", [0, 11, 12, 500, -17, -1], ids=["nonce0", "nonce11", "ct0", "ct", "ct-last", "tag"])
def test_flipped_byte_is_detected(where: int) -> None:
    cipher = Cipher(KEY)
    sealed = bytearray(cipher.seal(PLAINTEXT, AAD))
    sealed[where] ^= 0x01
    with pytest.raises(IntegrityError, match="authentication failed"):
        cipher.open(bytes(sealed), AAD)


def test_wrong_aad_is_detected() -> None:
    cipher = Cipher(KEY)
    with pytest.raises(IntegrityError, match="authentication failed"):
        cipher.open(cipher.seal(PLAINTEXT, AAD), b"other-blob-id")


def test_wrong_key_is_detected_without_leaking_keys() -> None:
    sealed = Cipher(KEY).seal(PLAINTEXT, AAD)
    other = bytes(32)
    with pytest.raises(IntegrityError) as info:
        Cipher(other).open(sealed, AAD)
    message = str(info.value)
    assert KEY.hex() not in message and other.hex() not in message
    assert info.value.exit_code == 13


@pytest.mark.parametrize("size", [0, 1, 27])
def test_too_short_input_is_detected(size: int) -> None:
    with pytest.raises(IntegrityError, match="authentication failed"):
        Cipher(KEY).open(bytes(size), AAD)


def test_truncated_tag_is_detected() -> None:
    cipher = Cipher(KEY)
    with pytest.raises(IntegrityError):
        cipher.open(cipher.seal(PLAINTEXT, AAD)[:-1], AAD)


@pytest.mark.parametrize("size", [16, 24, 31, 33])
def test_key_must_be_32_bytes(size: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Cipher(bytes(size))


def test_repr_hides_the_key() -> None:
    assert KEY.hex() not in repr(Cipher(KEY))


def test_one_cipher_shared_by_threads() -> None:
    cipher = Cipher(KEY)
    payloads = [bytes([i]) * 300_000 for i in range(32)]

    def round_trip(data: bytes) -> bool:
        return cipher.open(cipher.seal(data, AAD), AAD) == data

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(round_trip, payloads))


def test_sizes_in_any_order_round_trip() -> None:
    cipher = Cipher(KEY)
    for size in [3_000_000, 10, 0, 1 << 20, 21 << 20, 5, 2_000_000]:
        plaintext = bytes([size % 251]) * size
        sealed = cipher.seal(plaintext, AAD)
        assert len(sealed) == size + SEAL_OVERHEAD
        assert cipher.open(sealed, AAD) == plaintext


def test_sealed_results_do_not_share_memory() -> None:
    cipher = Cipher(KEY)
    first = cipher.seal(b"a" * 1000, AAD)
    copy = bytes(first)
    cipher.seal(b"b" * 1000, AAD)
    assert first == copy


def test_open_into_a_buffer() -> None:
    cipher = Cipher(KEY)
    sealed = cipher.seal(PLAINTEXT, AAD)
    out = bytearray(len(sealed) - SEAL_OVERHEAD)
    cipher.open_into(sealed, AAD, memoryview(out))
    assert out == PLAINTEXT
    with pytest.raises(IntegrityError, match="authentication failed"):
        cipher.open_into(sealed, b"other-blob", memoryview(out))
    with pytest.raises(IntegrityError, match="shorter than"):
        cipher.open_into(sealed[:20], AAD, memoryview(out)[:0])


def test_keyring_opens_into_a_buffer_with_an_older_key() -> None:
    old_key, new_key = bytes(32), bytes(range(1, 33))
    sealed_before = Cipher(old_key).seal(PLAINTEXT, AAD)
    keyring = KeyringCipher(new_key, (old_key,))
    out = memoryview(bytearray(len(PLAINTEXT)))
    keyring.open_into(sealed_before, AAD, out)
    assert out == PLAINTEXT
    keyring.open_into(keyring.seal(b"y" * len(PLAINTEXT), AAD), AAD, out)
    assert out == b"y" * len(PLAINTEXT)
    with pytest.raises(IntegrityError):
        KeyringCipher(bytes(range(2, 34)), (new_key,)).open_into(sealed_before, AAD, out)
