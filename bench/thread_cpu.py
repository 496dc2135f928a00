#!/usr/bin/env python3
"""Each thread's CPU seconds of one command: where a backup's single-threaded part is (issue 25).

Runs COMMAND with FILE as its stdin and polls /proc/PID/task/*/stat every 50 ms while it runs, keeping
each thread's last user + system time (a thread that ends between two polls loses at most 50 ms).
Prints the wall time and the threads, busiest first; threads of child processes (a files restore's
worker processes) too, each under its own thread id. Thread names are the kernel's (Python's thread
names do not reach it), so tell them apart by their counts: with N sealing workers, N threads of
about the same CPU are the workers.

Run: .venv/bin/python bench/thread_cpu.py STREAM -- taskset -c 0,1 .venv/bin/drkit backup stdin --repo R
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def sample(pid: int, seen: dict[str, tuple[str, float]]) -> None:
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
        seen[tid] = (name, (int(fields[11]) + int(fields[12])) / TICK)  # utime, stime


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__.split("Run: ")[1].strip(), file=sys.stderr)
        return 2
    seen: dict[str, tuple[str, float]] = {}
    with open(argv[0], "rb") as stdin:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv[2:], stdin=stdin, stdout=subprocess.DEVNULL)
        while proc.poll() is None:
            sample(proc.pid, seen)
            time.sleep(0.05)
        wall = time.perf_counter() - t0
    total = sum(cpu for _, cpu in seen.values())
    print(f"wall {wall:.2f} s, exit {proc.returncode}; the threads' CPU {total:.2f} s")
    for tid, (name, cpu) in sorted(seen.items(), key=lambda kv: -kv[1][1]):
        if cpu >= 0.01:
            print(f"  thread {tid:>7} {name:<16} {cpu:7.2f} s")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
