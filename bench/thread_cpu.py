#!/usr/bin/env python3
"""Each thread's CPU seconds of one command: where a backup's single-threaded part is (issue 25).

Runs COMMAND with FILE as its stdin and polls /proc/PID/task/*/stat every 50 ms while it runs, keeping
each thread's last user + system time (a thread that ends between two polls loses at most 50 ms).
Prints the wall time and the threads (those of child processes too: a files restore's worker
processes, each thread under its own id), busiest first, each with its CPU seconds, its seconds
runnable but waiting for a CPU (``/proc/.../schedstat``: the machine's load, or more threads than CPUs) and its
voluntary context switches (``/proc/.../status``): a thread that waits for the GIL, a lock, a queue or
the disk sleeps (how long each waits for the GIL: bench/gil_wait.py). Thread names are the kernel's
(Python's thread names do not reach it), so tell them apart by their counts: with N sealing workers,
N threads of about the same CPU are the workers.

Run: .venv/bin/python bench/thread_cpu.py STREAM -- taskset -c 0,1 .venv/bin/drkit backup stdin --repo R
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def _schedstat(path: str) -> tuple[float, int]:
    """Seconds runnable but waiting for a CPU, and voluntary context switches (0, 0 if gone)."""
    try:
        with open(f"{path}/schedstat") as f:
            wait_ns = int(f.read().split()[1])
        with open(f"{path}/status") as f:
            vol = next(int(line.split()[1]) for line in f if line.startswith("voluntary_ctxt_switches"))
    except (OSError, IndexError, StopIteration, ValueError):
        return 0.0, 0
    return wait_ns / 1e9, vol


def sample(pid: int, seen: dict[str, tuple[str, float, float, int]]) -> None:
    """Every thread of ``pid`` and of its child processes (a files restore's worker processes)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                children = f.read().split()
        except OSError:
            children = []
        for child in children:
            sample(int(child), seen)
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        waited, switches = _schedstat(f"/proc/{pid}/task/{tid}")
        seen[tid] = (name, (int(fields[11]) + int(fields[12])) / TICK, waited, switches)  # utime, stime


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__.split("Run: ")[1].strip(), file=sys.stderr)
        return 2
    seen: dict[str, tuple[str, float, float, int]] = {}
    with open(argv[0], "rb") as stdin:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv[2:], stdin=stdin, stdout=subprocess.DEVNULL)
        while proc.poll() is None:
            sample(proc.pid, seen)
            time.sleep(0.05)
        wall = time.perf_counter() - t0
    total = sum(v[1] for v in seen.values())
    print(f"wall {wall:.2f} s, exit {proc.returncode}; the threads' CPU {total:.2f} s, load {os.getloadavg()[0]:.1f}")
    print(f"  {'thread':>14} {'name':<16} {'CPU s':>7} {'wait-CPU s':>10} {'vol. switches':>13}")
    for tid, (name, cpu, waited, switches) in sorted(seen.items(), key=lambda kv: -kv[1][1]):
        if cpu >= 0.01:
            print(f"  thread {tid:>7} {name:<16} {cpu:7.2f} {waited:10.2f} {switches:13d}")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
