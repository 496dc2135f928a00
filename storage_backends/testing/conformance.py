"""The one conformance suite every backend must pass, ours or a third party's.

Use it by subclassing ``BackendConformance`` in a test module that provides a ``backend``
fixture yielding a fresh, empty backend (a new bucket or prefix per test)::

    class TestMyBackend(BackendConformance):
        @pytest.fixture
        def backend(self):
            yield MyBackend(...)

``LARGE_OBJECT_MIB`` sets the size of the streamed large-object round trip (default 200 MiB).
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

import pytest

from ..base import Backend, read_range
from ..errors import AlreadyExists, NotFound

LARGE_OBJECT_MIB = int(os.environ.get("DRKIT_TEST_LARGE_OBJECT_MIB", "200"))
MANY_KEYS = 1100  # past one 1000-key listing page


class PatternStream(io.RawIOBase):
    """A deterministic, incompressible stream of ``size`` bytes generated block by block."""

    def __init__(self, size: int, seed: bytes = b"drkit") -> None:
        self.remaining = size
        self.seed = seed
        self.counter = 0
        self.buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.remaining <= 0:
            return 0
        if not self.buf:
            block = hashlib.shake_128(self.seed + self.counter.to_bytes(8, "big")).digest(1 << 20)
            self.counter += 1
            self.buf = block
        n = min(len(b), len(self.buf), self.remaining)
        b[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        self.remaining -= n
        return n


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def peak_rss_bytes() -> int:
    """Peak resident set size of this process since start or the last reset (Linux)."""
    return _status_bytes("VmHWM")


def _sha256_of(stream: BinaryIO) -> tuple[str, int]:
    h = hashlib.sha256()
    total = 0
    while block := stream.read(1 << 20):
        h.update(block)
        total += len(block)
    return h.hexdigest(), total


class BackendConformance:
    """Behaviour shared by every backend. Subclasses provide the ``backend`` fixture."""

    #: an in-process store (the memory backend) necessarily holds objects in RAM
    holds_objects_in_memory = False

    def test_empty_object_round_trip(self, backend: Backend) -> None:
        backend.put("empty", b"")
        with backend.get("empty") as f:
            assert f.read() == b""
        assert backend.stat("empty").size == 0

    def test_small_object_round_trip_and_overwrite(self, backend: Backend) -> None:
        backend.put("a/b/small", b"hello world")
        with backend.get("a/b/small") as f:
            assert f.read() == b"hello world"
        backend.put("a/b/small", io.BytesIO(b"second version"))
        with backend.get("a/b/small") as f:
            assert f.read() == b"second version"
        info = backend.stat("a/b/small")
        assert (info.key, info.size) == ("a/b/small", len(b"second version"))
        assert info.mtime.tzinfo is not None

    def test_large_object_streams(self, backend: Backend) -> None:
        size = LARGE_OBJECT_MIB << 20
        expected, _ = _sha256_of(PatternStream(size))  # type: ignore[arg-type]
        measured = _reset_peak_rss() and not self.holds_objects_in_memory
        baseline = _status_bytes("VmRSS")
        backend.put("large", PatternStream(size))  # type: ignore[arg-type]
        assert backend.stat("large").size == size
        with backend.get("large") as f:
            digest, total = _sha256_of(f)
        assert (digest, total) == (expected, size)
        if measured:
            grown = peak_rss_bytes() - baseline
            # a buffered copy would need the whole object; a streamed one a few parts at most
            assert grown < size // 2, f"RSS grew {grown >> 20} MiB while moving {size >> 20} MiB"

    def test_ranges(self, backend: Backend) -> None:
        body = bytes(range(256)) * 4096  # 1 MiB
        backend.put("ranged", body)
        size = len(body)
        assert backend.get_range("ranged", 0, 100) == body[:100]
        assert backend.get_range("ranged", 500_000, 4096) == body[500_000:504_096]
        assert backend.get_range("ranged", size - 10, 10) == body[-10:]
        assert backend.get_range("ranged", size - 10, 100) == body[-10:]
        assert backend.get_range("ranged", 0, 0) == b""

    def test_ranges_into_a_buffer(self, backend: Backend) -> None:
        body = bytes(range(256)) * 4096  # 1 MiB
        backend.put("ranged", body)
        buf = memoryview(bytearray(8192))
        assert read_range(backend, "ranged", 500_000, 4096, buf) == body[500_000:504_096]
        assert read_range(backend, "ranged", len(body) - 10, 100, buf) == body[-10:]  # short at the end
        assert len(read_range(backend, "ranged", 0, 0, buf)) == 0
        with pytest.raises(NotFound):
            read_range(backend, "missing", 0, 10, buf)

    def test_list_with_prefixes(self, backend: Backend) -> None:
        for key in ("data/00/aa", "data/00/ab", "data/01/ba", "index/x", "config"):
            backend.put(key, key.encode())
        assert sorted(i.key for i in backend.list("data/00/")) == ["data/00/aa", "data/00/ab"]
        assert sorted(i.key for i in backend.list("data/")) == ["data/00/aa", "data/00/ab", "data/01/ba"]
        assert sorted(i.key for i in backend.list("data/00/a")) == ["data/00/aa", "data/00/ab"]
        everything = {i.key: i.size for i in backend.list()}
        assert everything == {k: len(k) for k in ("data/00/aa", "data/00/ab", "data/01/ba", "index/x", "config")}
        assert list(backend.list("nothing/")) == []

    def test_list_many_keys(self, backend: Backend) -> None:
        keys = [f"many/{i:05d}" for i in range(MANY_KEYS)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda k: backend.put(k, b"x"), keys))
        listed = sorted(i.key for i in backend.list("many/"))
        assert listed == keys

    def test_delete(self, backend: Backend) -> None:
        backend.put("doomed", b"1")
        backend.delete("doomed")
        with pytest.raises(NotFound):
            backend.stat("doomed")
        backend.delete("doomed")  # deleting a missing key succeeds
        backend.delete("never-existed")

    def test_missing_key_raises_not_found(self, backend: Backend) -> None:
        with pytest.raises(NotFound) as info:
            backend.get("missing").read()
        assert "missing" in str(info.value) and "\n" not in str(info.value)
        with pytest.raises(NotFound):
            backend.stat("missing")
        with pytest.raises(NotFound):
            backend.get_range("missing", 0, 10)

    def test_put_if_absent_refuses_existing(self, backend: Backend) -> None:
        backend.put_if_absent("once", b"first")
        with pytest.raises(AlreadyExists):
            backend.put_if_absent("once", b"second")
        with backend.get("once") as f:
            assert f.read() == b"first"

    def test_put_if_absent_race_has_one_winner(self, backend: Backend) -> None:
        for round_ in range(3):
            key = f"locks/race-{round_}"
            barrier = threading.Barrier(8)
            winners: list[int] = []

            def contend(
                n: int, key: str = key, barrier: threading.Barrier = barrier, winners: list[int] = winners
            ) -> None:
                barrier.wait()
                try:
                    backend.put_if_absent(key, f"writer-{n}".encode())
                    winners.append(n)
                except AlreadyExists:
                    pass

            with ThreadPoolExecutor(8) as pool:
                list(pool.map(contend, range(8)))
            assert len(winners) == 1, f"{len(winners)} writers won the race for {key}"
            with backend.get(key) as f:
                assert f.read() == f"writer-{winners[0]}".encode()

    def test_invalid_keys_are_refused(self, backend: Backend) -> None:
        for bad in ("../escape", "/abs", "a//b", "a/./b", "", "sp ace"):
            with pytest.raises(ValueError):
                backend.put(bad, b"x")
