#!/usr/bin/env python3
"""Where a files restore's time goes: its phases, and its workers' steps (issue 25).

Runs ``drkit restore SNAPSHOT --target DIR --repo REPO`` in this process (DRKIT_PASSWORD in the
environment), with marks around the restore's phases (start-up, walk, directories, content,
metadata: wall and process CPU at each mark) and, summed over the worker threads, the wall and
thread-CPU seconds of each step of writing the content: the ranged pack reads, opening each blob
(AES-GCM, zstd, BLAKE3), creating a file, its writes, finishing it (size, owner, xattrs, mode,
mtime, name). A step's wall well above its CPU waited: for the disk, the GIL, or a CPU (the load).
Counted work next to it: ``strace -c -f drkit restore ...``; the CPU by library: ``perf record -g
drkit restore ...`` then ``perf report --sort dso``; per thread: bench/thread_cpu.py.

The CPU at each mark includes the content phase's worker processes (``sources/files/procpool.py``,
the default on a local store with 2+ workers) once they are reaped: from the ``_write_files ends``
mark on. Their steps are not summed here (each worker has its own copy of the counters); with
``DRKIT_RESTORE_PROCESSES=0`` the content runs on threads and the steps are summed as before.

Run: DRKIT_PASSWORD=... .venv/bin/python bench/restore_phases.py --repo REPO --target DIR [SNAPSHOT]
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from drkit.core import filewriters
from drkit.repository import runs
from drkit.sources.files import fetch, restore

T0 = time.perf_counter()
MARKS: list[tuple[str, float, float]] = []
STEPS: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0])
_LOCK = threading.Lock()


def mark(name: str) -> None:
    """Wall and CPU so far; the CPU includes the worker processes (``procpool``) once reaped."""
    kids = os.times()
    MARKS.append((name, time.perf_counter() - T0, time.process_time() + kids.children_user + kids.children_system))


def phase(cls: type, name: str) -> None:
    inner = getattr(cls, name)

    def wrapped(self: Any, *a: Any, **k: Any) -> Any:
        mark(f"{name} starts")
        try:
            return inner(self, *a, **k)
        finally:
            mark(f"{name} ends")

    setattr(cls, name, wrapped)


def step(label: str, inner: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*a: Any, **k: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return inner(*a, **k)
        finally:
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
            with _LOCK:
                entry = STEPS[label]
                entry[0] += wall
                entry[1] += cpu
                entry[2] += 1

    return wrapped


def instrument() -> None:
    for name in ("run", "_walk", "_prepare", "_write_files", "_delete_extras"):
        phase(restore.Restorer, name)
    runs.read_range = step("pack reads (preadv)", runs.read_range)
    runs.open_blob_into = step("open blobs (AES, zstd, BLAKE3)", runs.open_blob_into)
    fetch.FileOut._create = step("create files (O_TMPFILE)", fetch.FileOut._create)  # type: ignore[method-assign]
    fetch.FileOut.finish = step("finish files (meta, link, close)", fetch.FileOut.finish)  # type: ignore[method-assign]
    filewriters.pwrite_all = step("pwrite (buffered and direct)", filewriters.pwrite_all)
    fetch.Writeout._work = step("runs, in all (workers)", fetch.Writeout._work)  # type: ignore[method-assign]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("snapshot", nargs="?", default="latest")
    p.add_argument("--repo", required=True)
    p.add_argument("--target", required=True)
    args = p.parse_args()
    instrument()
    from drkit.cli.main import main as drkit_main

    mark("imports done")
    code = 0
    try:
        drkit_main(["restore", args.snapshot, "--target", args.target, "--repo", args.repo])
    except SystemExit as exc:
        code = int(exc.code or 0)
    mark("exit")
    print(f"{'mark':<24} {'wall s':>7} {'CPU s':>7}")
    for name, wall, cpu in MARKS:
        print(f"{name:<24} {wall:7.2f} {cpu:7.2f}")
    print(f"\n{'worker step (summed over threads)':<36} {'calls':>7} {'wall s':>7} {'CPU s':>7}")
    for label, (wall, cpu, calls) in STEPS.items():
        print(f"{label:<36} {int(calls):7d} {wall:7.2f} {cpu:7.2f}")
    if not STEPS:
        print("(none in this process: the content ran in worker processes; DRKIT_RESTORE_PROCESSES=0 for threads)")
    return code


if __name__ == "__main__":
    sys.exit(main())
