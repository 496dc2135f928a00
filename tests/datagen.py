"""Deterministic test streams: mixed (text-like, random, repeated) content generated block by block."""

from __future__ import annotations

import hashlib
import io
import random

BLOCK = 1 << 20


def mixed_block(seed: int, n: int) -> bytes:
    """Block ``n`` of a mixed stream: every third block text-like, one random, one repeated."""
    kind = n % 3
    if kind == 0:
        rnd = random.Random(seed * 1_000_003 + n)
        words = [b"alpha", b"beta", b"gamma", b"delta", b"error", b"info", b"user", b"GET", b"POST", b"200"]
        line = b" ".join(rnd.choice(words) for _ in range(12)) + b" %d\n"
        out = bytearray()
        while len(out) < BLOCK:
            out += line % rnd.randrange(1 << 30)
        return bytes(out[:BLOCK])
    if kind == 1:
        return random.Random(seed * 7_919 + n).randbytes(BLOCK)
    return hashlib.shake_128(b"repeated-%d" % seed).digest(BLOCK)


class MixedStream(io.RawIOBase):
    """``size`` bytes of mixed content; ``changes`` maps block number → replacement seed, to model
    a stream with a few changed regions."""

    def __init__(
        self, size: int, seed: int = 1, changes: dict[int, int] | None = None, change_len: int = BLOCK // 8
    ) -> None:
        self.size = size
        self.change_len = min(change_len, BLOCK)
        self.seed = seed
        self.changes = changes or {}
        self.pos = 0
        self._block_no = -1
        self._block = b""

    def readable(self) -> bool:
        return True

    def _block_at(self, n: int) -> bytes:
        if n != self._block_no:
            data = mixed_block(self.seed, n)
            if n in self.changes:
                data = random.Random(self.changes[n]).randbytes(self.change_len) + data[self.change_len :]
            self._block_no, self._block = n, data
        return self._block

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.pos >= self.size:
            return 0
        n, off = divmod(self.pos, BLOCK)
        chunk = self._block_at(n)[off : off + min(len(b), self.size - self.pos)]
        b[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


def stream_digest(stream: io.RawIOBase) -> str:
    h = hashlib.sha256()
    while block := stream.read(4 << 20):
        h.update(block)
    return h.hexdigest()


class HashingWriter(io.RawIOBase):
    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.h.update(b)
        self.count += len(b)
        return len(b)

    def hexdigest(self) -> str:
        return self.h.hexdigest()
