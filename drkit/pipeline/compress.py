"""Blob compression behind a 1-byte codec header: ``0x00`` stored raw, ``0x01`` one zstd frame.

Compression is kept only when it pays (output under 97 % of the input). Unless ``probe=False``, chunks over
256 KiB are first probed: four 16 KiB samples spread over the chunk are compressed at level 1, and if even
those do not shrink, the chunk is stored raw without a full attempt (about 3x cheaper on random data). The
probe cannot see redundancy at a longer range than a sample: a chunk of locally random bytes that repeat
further apart (two copies of one JPEG) is then stored raw although zstd-3 would have shrunk it.
zstd objects must never be shared between threads (sharing one has crashed the interpreter), so every
thread builds its own.
"""

from __future__ import annotations

import threading

import zstandard

from ..core.errors import IntegrityError

CODEC_RAW = 0x00
CODEC_ZSTD = 0x01
PAYS_RATIO = 0.97

_RAW_HEADER = bytes([CODEC_RAW])
_ZSTD_HEADER = bytes([CODEC_ZSTD])
_PROBE_ABOVE = 256 * 1024
_PROBE_PIECES = 4
_PROBE_PIECE = 16 * 1024
_PROBE_LEVEL = 1

_local = threading.local()


def _compressor(level: int) -> zstandard.ZstdCompressor:
    """This thread's compressor for ``level``; the content size goes into every frame."""
    cache: dict[int, zstandard.ZstdCompressor] | None = getattr(_local, "compressors", None)
    if cache is None:
        cache = _local.compressors = {}
    compressor = cache.get(level)
    if compressor is None:
        compressor = cache[level] = zstandard.ZstdCompressor(level=level, write_content_size=True, write_checksum=False)
    return compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    decompressor: zstandard.ZstdDecompressor | None = getattr(_local, "decompressor", None)
    if decompressor is None:
        decompressor = _local.decompressor = zstandard.ZstdDecompressor()
    return decompressor


def _pays(packed_size: int, size: int) -> bool:
    return packed_size < size * PAYS_RATIO


def _probe_pays(view: memoryview) -> bool:
    """Whether samples spread over ``view`` shrink at level 1 (a cheap guess for incompressible data)."""
    step = (len(view) - _PROBE_PIECE) // (_PROBE_PIECES - 1)
    sample = b"".join(view[i * step : i * step + _PROBE_PIECE] for i in range(_PROBE_PIECES))
    return _pays(len(_compressor(_PROBE_LEVEL).compress(sample)), len(sample))


def compress(data: bytes | memoryview, level: int, *, probe: bool = True) -> bytes:
    """Header + zstd frame at ``level``, or header + ``data`` when compression does not pay or level is 0."""
    view = memoryview(data)
    size = len(view)
    if level == 0 or size == 0:
        return _RAW_HEADER + view
    if probe and size > _PROBE_ABOVE and not _probe_pays(view):
        return _RAW_HEADER + view
    packed = _compressor(level).compress(view)
    if not _pays(len(packed), size):
        return _RAW_HEADER + view
    return _ZSTD_HEADER + packed


def decompress(data: bytes | memoryview, limit: int | None = None) -> bytes:
    """The original bytes of a ``compress`` result; ``IntegrityError`` for an unknown codec or bad frame,
    or for output over ``limit`` bytes."""
    out = decompress_view(data, limit)
    return out if isinstance(out, bytes) else bytes(out)


def decompress_view(data: bytes | memoryview, limit: int | None = None) -> bytes | memoryview:
    """``decompress`` without copying a body stored raw: a view into ``data`` past the codec byte.
    ``limit`` (the blob's recorded length): a frame that would inflate beyond it is refused before
    its output is allocated, so a crafted blob cannot take memory in proportion to its ratio."""
    view = memoryview(data)
    if not len(view):
        raise IntegrityError("compressed blob is empty: no codec header")
    codec, body = view[0], view[1:]
    if codec == CODEC_RAW:
        return body
    if codec == CODEC_ZSTD:
        return _unzstd(body, limit)
    raise IntegrityError(f"unknown codec header 0x{codec:02x}")


def _unzstd(body: memoryview, limit: int | None) -> bytes:
    try:
        if limit is None:
            return _decompressor().decompress(body, allow_extra_data=False)
        declared = zstandard.frame_content_size(body)
        if declared > limit:
            raise IntegrityError(f"zstd frame declares {declared} bytes, more than the {limit} recorded")
        if declared >= 0:  # zstd checks the output against the declared size
            return _decompressor().decompress(body, allow_extra_data=False)
        with _decompressor().stream_reader(body) as reader:  # no size declared: read one byte past the limit
            out: bytes = reader.read(limit + 1)
    except zstandard.ZstdError as exc:
        raise IntegrityError(f"zstd frame does not decode: {exc}") from None
    if len(out) > limit:
        raise IntegrityError(f"zstd frame inflates beyond the {limit} bytes recorded")
    return out
