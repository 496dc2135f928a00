"""Scratch: one reusable buffer per thread; oversized requests are not kept."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

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
