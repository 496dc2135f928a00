"""Chunker: content-defined boundaries, independent of how the stream is read, in bounded memory."""

from __future__ import annotations

import io
import random

import pytest

from drkit.pipeline import ChunkerParams, chunk_buffer, iter_chunks

SMALL = ChunkerParams(min_size=2048, avg_size=8192, max_size=32768)


def _random(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


class ShortReads(io.RawIOBase):
    """A stream handing out at most a few hundred bytes per call, with irregular sizes."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._rng = random.Random(7)

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        count = min(len(buf), self._rng.randint(1, 700), len(self._data) - self._pos)
        buf[:count] = self._data[self._pos : self._pos + count]
        self._pos += count
        return count


class ReadOnly:
    """A stream with ``read`` but no ``readinto``."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def read(self, size: int) -> bytes:
        return self._inner.read(min(size, 5000))


def _lengths(chunks: object) -> list[int]:
    return [len(chunk) for chunk in chunks]  # type: ignore[attr-defined]


def test_empty_stream_has_no_chunks() -> None:
    assert list(iter_chunks(io.BytesIO(b""), SMALL)) == []
    assert chunk_buffer(b"", SMALL) == []


def test_chunks_reassemble_the_stream() -> None:
    data = _random(1 << 20)
    chunks = list(iter_chunks(io.BytesIO(data), SMALL, read_size=100_000))
    assert all(isinstance(chunk, bytes) for chunk in chunks)
    assert b"".join(chunks) == data


def test_small_input_is_one_chunk() -> None:
    assert list(iter_chunks(io.BytesIO(b"tiny"), SMALL)) == [b"tiny"]


def test_sizes_respect_min_and_max() -> None:
    lengths = _lengths(iter_chunks(io.BytesIO(_random(2 << 20)), SMALL))
    assert len(lengths) > 50
    assert all(SMALL.min_size <= length <= SMALL.max_size for length in lengths[:-1])
    assert 0 < lengths[-1] <= SMALL.max_size
    # content-defined, not fixed-size
    assert len(set(lengths)) > len(lengths) // 2


def test_data_without_cut_points_is_cut_at_max_size() -> None:
    lengths = _lengths(iter_chunks(io.BytesIO(bytes(200_000)), SMALL))
    assert lengths == [SMALL.max_size] * 6 + [200_000 - 6 * SMALL.max_size]


@pytest.mark.parametrize(
    "make_stream",
    [
        pytest.param(lambda d: io.BytesIO(d), id="whole"),
        pytest.param(ShortReads, id="short-reads"),
        pytest.param(ReadOnly, id="read-only"),
    ],
)
@pytest.mark.parametrize("read_size", [1, 70_001, 1 << 24])
def test_boundaries_do_not_depend_on_reads(make_stream: object, read_size: int) -> None:
    data = _random(600_000, seed=3)
    expected = [bytes(view) for view in chunk_buffer(data, SMALL)]
    stream = make_stream(data)  # type: ignore[operator]
    assert list(iter_chunks(stream, SMALL, read_size=read_size)) == expected


def test_boundaries_survive_an_insertion() -> None:
    data = _random(2 << 20)
    before = list(iter_chunks(io.BytesIO(data), SMALL))
    middle = len(data) // 2
    shifted = b"x" * 17 + data[:middle] + b"inserted" + data[middle:]
    after = set(iter_chunks(io.BytesIO(shifted), SMALL))
    shared = sum(chunk in after for chunk in before)
    assert shared >= len(before) - 4
    assert len(before) > 100


def test_seed_moves_the_boundaries() -> None:
    data = _random(1 << 20)
    seeded = ChunkerParams(min_size=2048, avg_size=8192, max_size=32768, seed=12345)
    assert _lengths(chunk_buffer(data, SMALL)) != _lengths(chunk_buffer(data, seeded))


def test_memory_is_bounded_by_the_read_size() -> None:
    stream = io.BytesIO(_random(4 << 20))
    chunks = iter_chunks(stream, SMALL, read_size=256 * 1024)
    next(chunks)
    assert stream.tell() == 256 * 1024
    assert sum(1 for _ in chunks) > 100


def test_default_parameters_give_megabyte_chunks() -> None:
    lengths = _lengths(iter_chunks(io.BytesIO(_random(24 << 20)), ChunkerParams()))
    assert all(256 * 1024 <= length <= 4 << 20 for length in lengths[:-1])
    assert 8 <= len(lengths) <= 40


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_size": 32},
        {"max_size": 32 << 20},
        {"avg_size": 3000},
        {"min_size": 4096, "avg_size": 2048},
        {"min_size": 2049, "avg_size": 8192, "max_size": 32768},
        {"seed": -1},
    ],
)
def test_invalid_parameters_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="chunker"):
        ChunkerParams(**kwargs)
