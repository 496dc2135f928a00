#!/usr/bin/env python3
"""How long each thread of a command waits for the GIL (issue 25): futex waits traced by `perf trace`.

A Python thread that wants the GIL while another holds it sleeps in a futex on the GIL's condition
variable or mutex, which CPython 3.11 keeps inside its ``_PyRuntime`` structure (static data of a
non-PIE interpreter: the same address in every process of that executable). This runs COMMAND under
``perf trace -e futex``, sums each thread's futex waits on words inside ``_PyRuntime`` (the GIL's) and
on other words (locks, queues, conditions: waiting for work or for a result), and prints them with the
wall time. Waits are wall time, so on a loaded machine they also grow while the GIL's holder waits for
a CPU: compare runs at the same load, or 1 CPU against 2 (where the threads take turns on the one CPU
anyway). perf's tracing slows the command (an event per futex call): compare traced runs
with traced runs only.

Run: .venv/bin/python bench/gil_wait.py [--stdin FILE] -- taskset -c 0,1 .venv/bin/drkit backup files TREE --repo R
Needs perf (linux-perf) and root (or perf_event_paranoid <= -1), and COMMAND's interpreter being this one's
executable (``sys.executable``: the address of ``_PyRuntime`` is read here).
"""

from __future__ import annotations

import collections
import ctypes
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import traced_command  # noqa: E402

_LINE = re.compile(r"\(\s*([\d.]*)\s*(?:ms)?\):\s+\S+/(\d+)\s+(.*)$")
_CALL = re.compile(r"uaddr: (0x[0-9a-f]+), op: (\S+)")
_RUNTIME_SIZE = 0x28B20  # sizeof(_PyRuntimeState) of CPython 3.11 (nm -S); only its lock words matter


def runtime_range() -> tuple[int, int]:
    """Where ``_PyRuntime`` is in this (non-PIE) interpreter, hence in every process of its executable."""
    start = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, "_PyRuntime"))
    return start, start + _RUNTIME_SIZE


class Waits:
    """Per thread: milliseconds and count of futex waits on the GIL's words, and ms on other words."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi
        self.gil: collections.Counter[str] = collections.Counter()
        self.count: collections.Counter[str] = collections.Counter()
        self.other: collections.Counter[str] = collections.Counter()
        self._pending: dict[str, int] = {}

    def line(self, text: str) -> None:
        m = _LINE.search(text)
        if not m:
            return
        dur, tid, rest = m.groups()
        if "[continued]" in rest:  # a wait that began on an earlier line ("...") ends here
            addr = self._pending.pop(tid, None)
        else:
            call = _CALL.search(rest)
            if not call or "WAIT" not in call.group(2):
                return
            addr = int(call.group(1), 16)
            if not dur:
                self._pending[tid] = addr
                return
        if addr is None or not dur or float(dur) > 1e7:  # perf prints a wrapped negative now and then
            return
        if self.lo <= addr < self.hi:
            self.gil[tid] += float(dur)
            self.count[tid] += 1
        else:
            self.other[tid] += float(dur)

    def report(self, wall: float) -> str:
        rows = [f"wall {wall:.2f} s; the GIL waited for {sum(self.gil.values()) / 1000:.2f} s in all threads"]
        rows.append(f"  {'thread':>8} {'GIL wait s':>10} {'GIL waits':>9} {'other futex waits s':>19}")
        for tid in sorted(set(self.gil) | set(self.other), key=lambda t: -self.gil[t]):
            if self.gil[tid] + self.other[tid] >= 10:
                rows.append(
                    f"  {tid:>8} {self.gil[tid] / 1000:10.2f} {self.count[tid]:9d} {self.other[tid] / 1000:19.2f}"
                )
        return "\n".join(rows)


def main(argv: list[str]) -> int:
    parsed = traced_command(argv, __doc__ or "")
    if parsed is None:
        return 2
    args, command = parsed
    if sys.version_info[:2] != (3, 11):  # _RUNTIME_SIZE and the GIL's place in it are 3.11's
        print("gil_wait.py: needs CPython 3.11 (the GIL's address is read from its _PyRuntime)", file=sys.stderr)
        return 2
    lo, hi = runtime_range()
    with tempfile.TemporaryDirectory(prefix="gil-wait-") as tmp, open(args.stdin, "rb") as stdin:
        trace = Path(tmp) / "futex.txt"
        t0 = time.perf_counter()
        rc = subprocess.run(
            ["perf", "trace", "-e", "futex", "-o", str(trace), "--", *command], stdin=stdin, stdout=subprocess.DEVNULL
        ).returncode
        wall = time.perf_counter() - t0
        waits = Waits(lo, hi)
        with trace.open() as f:
            for text in f:
                waits.line(text)
    print(f"exit {rc}, load {os.getloadavg()[0]:.1f}; " + waits.report(wall))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
