"""Content-defined chunking (FastCDC, via pyfastcdc): parameters and chunk iterators.

``iter_chunks`` reads a stream in large blocks into one reused buffer and cuts a chunk only while at least
``max_size`` bytes are buffered (or at end of stream). FastCDC decides a cut from at most the next
``max_size`` bytes, so the boundaries are exactly those of cutting the whole stream in one buffer, however
the reads happen to be split, and memory stays bounded by the block size.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import pyfastcdc

KiB = 1024
MiB = 1024 * KiB
DEFAULT_READ_SIZE = 16 * MiB

# pyfastcdc 0.3 refuses values outside these ranges
_MIN_RANGE = (64, 1 * MiB)
_AVG_RANGE = (256, 4 * MiB)
_MAX_RANGE = (1 * KiB, 16 * MiB)
_SEED_LIMIT = 1 << 63

ReadInto = Callable[[memoryview], int | None]


@dataclass(frozen=True)
class ChunkerParams:
    """FastCDC sizes in bytes; ``seed`` perturbs the gear table (0 = the reference table)."""

    min_size: int = 256 * KiB
    avg_size: int = 1 * MiB
    max_size: int = 4 * MiB
    seed: int = 0

    def __post_init__(self) -> None:
        _check_range("min_size", self.min_size, _MIN_RANGE)
        _check_range("avg_size", self.avg_size, _AVG_RANGE)
        _check_range("max_size", self.max_size, _MAX_RANGE)
        if not self.min_size <= self.avg_size <= self.max_size:
            raise ValueError("chunker sizes must satisfy min_size <= avg_size <= max_size")
        if self.min_size % 2:
            raise ValueError("chunker min_size must be even (FastCDC starts cutting at an even offset)")
        if self.avg_size & (self.avg_size - 1):
            raise ValueError("chunker avg_size must be a power of two")
        if not 0 <= self.seed < _SEED_LIMIT:
            raise ValueError("chunker seed must be in [0, 2**63)")


def _check_range(name: str, value: int, bounds: tuple[int, int]) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise ValueError(f"chunker {name}={value} is outside [{low}, {high}]")


_local = threading.local()


def _fastcdc(params: ChunkerParams) -> pyfastcdc.FastCDC:
    """This thread's chunker for ``params`` (building one costs ~10 us: too much per small file). Its
    configuration is read-only once built; each ``cut_buf`` keeps its own position."""
    cache: dict[ChunkerParams, pyfastcdc.FastCDC] | None = getattr(_local, "chunkers", None)
    if cache is None:
        cache = _local.chunkers = {}
    cdc = cache.get(params)
    if cdc is None:
        if len(cache) >= 8:
            cache.clear()
        cdc = cache[params] = pyfastcdc.FastCDC(
            params.avg_size, min_size=params.min_size, max_size=params.max_size, seed=params.seed
        )
    return cdc


def chunk_buffer(buf: bytes | bytearray | memoryview, params: ChunkerParams) -> list[memoryview]:
    """Cut a whole in-memory buffer; the chunks are zero-copy views into ``buf``."""
    if not len(buf):
        return []
    return [chunk.data for chunk in _fastcdc(params).cut_buf(buf)]


def iter_chunks(stream: BinaryIO, params: ChunkerParams, *, read_size: int = DEFAULT_READ_SIZE) -> Iterator[bytes]:
    """Yield the chunks of a blocking binary stream as independent ``bytes``, in order.

    Holds at most ``max(read_size, 2 * max_size)`` bytes of the stream at a time.
    """
    cdc = _fastcdc(params)
    readinto = _readinto_of(stream)
    view = memoryview(bytearray(max(read_size, 2 * params.max_size)))
    filled = 0
    while True:
        filled, eof = _fill(readinto, view, filled)
        used = yield from _cut(cdc, view[:filled], params.max_size, eof)
        if eof:
            return
        filled -= used
        view[:filled] = view[used : used + filled]  # no overlap: used >= capacity - max_size >= max_size


def _cut(cdc: pyfastcdc.FastCDC, view: memoryview, max_size: int, eof: bool) -> Generator[bytes, None, int]:
    """Yield the chunks whose cut is final; return how many bytes of ``view`` they cover."""
    end = len(view)
    pos = 0
    if not end:
        return 0
    chunks = cdc.cut_buf(view)
    while pos < end and (eof or end - pos >= max_size):
        chunk = next(chunks)
        yield bytes(chunk.data)
        pos += chunk.length
    return pos


def _fill(readinto: ReadInto, view: memoryview, filled: int) -> tuple[int, bool]:
    """Read until ``view`` is full or the stream ends; short reads are fine."""
    capacity = len(view)
    while filled < capacity:
        count = readinto(view[filled:])
        if count is None:
            raise BlockingIOError("iter_chunks needs a blocking stream; a read returned no data yet")
        if count == 0:
            return filled, True
        filled += count
    return filled, False


def _readinto_of(stream: BinaryIO) -> ReadInto:
    readinto: ReadInto | None = getattr(stream, "readinto", None)
    if readinto is not None:
        return readinto

    def via_read(dest: memoryview) -> int:
        data = stream.read(len(dest))
        dest[: len(data)] = data
        return len(data)

    return via_read
