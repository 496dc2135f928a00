"""Bodies of S3 requests: parts read from a stream, bytes-like data read in place, and response
bodies whose read errors are neutral ``BackendError``s (used by s3.py)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, BinaryIO

from .errors import BackendError

PART_SIZE = 16 << 20  # multipart part size and the single-request limit: objects up to 156 GiB


def next_part(stream: BinaryIO, size: int = PART_SIZE) -> bytearray:
    """The next ``size`` bytes of ``stream`` (fewer only at its end), read in place: no extra copies."""
    buf = bytearray(size)
    view, filled = memoryview(buf), 0
    readinto = getattr(stream, "readinto", None)
    while filled < size:
        if readinto is not None:
            n = readinto(view[filled:]) or 0
        else:
            chunk = stream.read(size - filled)
            n = len(chunk)
            view[filled : filled + n] = chunk
        if n == 0:
            break
        filled += n
    view.release()
    del buf[filled:]
    return buf


def send_at_once(request: Any, **_: Any) -> None:
    """Drop ``Expect: 100-continue``: botocore adds it to every put with a file-like body and then waits
    for the server's go-ahead before sending the body, a round trip more per put (on a 60 ms link, a
    sixth of a 16 MiB pack's upload; restic's puts do not wait). The header is not signed."""
    request.headers.pop("Expect", None)


class View(io.RawIOBase):
    """Bytes-like data as a seekable stream read in place (an upload's body, re-read on retry)."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._view = memoryview(data).cast("B")
        self._pos = 0

    def __len__(self) -> int:
        return len(self._view)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = max(0, min(len(b), len(self._view) - self._pos))
        b[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._pos + size)
        out = bytes(self._view[self._pos : end]) if end > self._pos else b""
        self._pos = max(self._pos, end)
        return out

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        """Give the caller's buffer back: while the view exists, a bytearray cannot be resized (the writer
        resizes its pack buffer after a failed put; an unreleased view made that a BufferError)."""
        self._view.release()
        super().close()


class Body(io.RawIOBase):
    """A StreamingBody as a raw stream whose read errors are neutral ``BackendError``s."""

    def __init__(self, body: Any, on_error: Callable[[Exception], BackendError]) -> None:
        self._body = body
        self._on_error = on_error

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            data = self._body.read(len(b))
        except Exception as exc:
            raise self._on_error(exc) from exc
        n = len(data)
        b[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
