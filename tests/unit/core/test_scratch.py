"""Scratch: one reusable buffer per thread; oversized requests are not kept."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from drkit.core.scratch import Scratch


def test_a_thread_gets_its_buffer_back_at_the_requested_size() -> None:
    scratch = Scratch(minimum=64, keep=1024)
    a = scratch.view(10)
    b = scratch.view(50)
    assert (len(a), len(b)) == (10, 50)
    assert b.obj is a.obj


def test_growing_replaces_the_buffer_and_oversized_ones_are_not_kept() -> None:
    scratch = Scratch(minimum=64, keep=1024)
    small = scratch.view(10)
    grown = scratch.view(500)
    assert grown.obj is not small.obj and scratch.view(400).obj is grown.obj
    huge = scratch.view(5000)
    assert len(huge) == 5000 and scratch.view(400).obj is grown.obj


def test_threads_do_not_share_buffers() -> None:
    scratch = Scratch(minimum=64)
    both = threading.Barrier(2)

    def take(_: int) -> bytearray:
        both.wait(timeout=10)  # two threads, not one thread twice
        return scratch.view(8).obj  # type: ignore[return-value]

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(take, range(2))
    mine = scratch.view(8).obj
    assert first is not second and mine is not first and mine is not second


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_a_buffer_costs_memory_only_where_it_is_written() -> None:
    """A restore from S3 takes the run read buffer but never fills it (get_range brings its own
    bytes): untouched, it must not be resident."""
    scratch = Scratch(minimum=64 << 20, keep=128 << 20)
    before = _rss_kib()
    view = scratch.view(64 << 20)
    assert _rss_kib() - before < 8 << 10  # not the 64 MiB
    view[: 16 << 20] = bytes(16 << 20)  # touch a quarter
    grown = _rss_kib() - before
    assert 12 << 10 < grown < 40 << 10
