"""compress/decompress: 1-byte codec header, raw fallback when zstd does not pay, damage detection."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest
import zstandard

from drkit.core.errors import IntegrityError
from drkit.pipeline import CODEC_RAW, CODEC_ZSTD, compress, decompress

WORDS = "backup restore snapshot chunk pack index key drill postgres redis wal page".split()


def _text(size: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    return " ".join(rng.choices(WORDS, k=size // 5)).encode()[:size]


def _random(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.mark.parametrize("level", [1, 3, 19, -5])
def test_text_is_compressed_and_round_trips(level: int) -> None:
    data = _text(300_000)
    packed = compress(data, level)
    assert packed[0] == CODEC_ZSTD
    assert len(packed) < len(data) // 2
    assert decompress(packed) == data


def test_frame_carries_the_content_size() -> None:
    data = _text(100_000)
    assert zstandard.frame_content_size(compress(data, 3)[1:]) == len(data)


@pytest.mark.parametrize("size", [1, 1000, 200_000, 1 << 20])
def test_random_data_is_stored_raw(size: int) -> None:
    data = _random(size)
    packed = compress(data, 3)
    assert packed == bytes([CODEC_RAW]) + data
    assert decompress(packed) == data


def test_mixed_chunk_is_still_compressed() -> None:
    # text only in the second quarter: one of the probe samples must land in it
    data = _random(256_000) + _text(256_000) + _random(512_000, seed=2)
    packed = compress(data, 3)
    assert packed[0] == CODEC_ZSTD
    assert len(packed) < len(data) * 0.97
    assert decompress(packed) == data


def test_probe_misses_long_range_redundancy_unless_disabled() -> None:
    block = _random(300_000)
    data = block + block
    assert compress(data, 3)[0] == CODEC_RAW
    packed = compress(data, 3, probe=False)
    assert packed[0] == CODEC_ZSTD
    assert len(packed) < len(data) * 0.6
    assert decompress(packed) == data


def test_level_zero_never_compresses() -> None:
    data = _text(50_000)
    assert compress(data, 0) == bytes([CODEC_RAW]) + data


def test_empty_input_round_trips() -> None:
    assert decompress(compress(b"", 3)) == b""


def test_memoryview_input() -> None:
    data = _text(100_000)
    assert decompress(memoryview(compress(memoryview(data), 3))) == data


def test_unknown_header_is_an_integrity_error() -> None:
    with pytest.raises(IntegrityError, match="0x07"):
        decompress(b"\x07whatever")


def test_missing_header_is_an_integrity_error() -> None:
    with pytest.raises(IntegrityError):
        decompress(b"")


@pytest.mark.parametrize("damage", ["truncate", "trailing", "garbage"])
def test_damaged_frame_is_an_integrity_error(damage: str) -> None:
    packed = compress(_text(100_000), 3)
    bad = {
        "truncate": packed[:-10],
        "trailing": packed + b"extra",
        "garbage": packed[:1] + b"\x00" * 20 + packed[21:],
    }[damage]
    with pytest.raises(IntegrityError):
        decompress(bad)


def test_threads_use_their_own_zstd_objects() -> None:
    inputs = [_text(200_000, seed=i) for i in range(16)]

    def round_trip(data: bytes) -> bool:
        return decompress(compress(data, 3)) == data

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(round_trip, inputs))
