#!/usr/bin/env python3
"""When each thread of one command runs: the critical path of a backup on N CPUs (issue 25, 1 -> 2 CPUs).

Runs COMMAND and reads every thread's ``/proc/PID/task/TID/schedstat`` (nanoseconds on a CPU, nanoseconds
runnable but waiting for one) every ``--every`` ms while it runs. Python threads get kernel names (a
``sitecustomize`` in a temp directory put first on the child's PYTHONPATH sets ``prctl(PR_SET_NAME)`` from
``Thread.name`` when each starts: ``drkit-seal_0``, ``drkit-upload_0``, ...), so the tool tells them apart.

Prints, per thread, its CPU seconds, its seconds waiting for a CPU, and when it first and last ran; then the
run cut in ``--bin`` ms bins by how many CPUs the command used (its threads' on-CPU time in the bin / the bin):
how long it used about one CPU (serial), and which thread ran then; and a coarse timeline, one row per thread,
one digit per bin (0-9: tenths of the bin on a CPU; ``.`` none). The wait-for-CPU column is the machine's
load (or more runnable threads than CPUs): with it near 0 the bins show the command's own critical path.
The sampler itself costs ~1-2 % of one CPU.

Run: .venv/bin/python bench/thread_timeline.py [--stdin FILE] [--every MS] [--bin MS] -- COMMAND...
(e.g. taskset -c 0,1 .venv/bin/drkit backup stdin --repo R --name s)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import traced_command

SITECUSTOMIZE = r"""
import ctypes, threading
_libc = ctypes.CDLL(None, use_errno=True)
_inner = threading.Thread._bootstrap_inner
def _named(self):
    _libc.prctl(15, self.name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    _inner(self)
threading.Thread._bootstrap_inner = _named
"""

Thread = tuple[str, int, int, str]  # name, ns on a CPU, ns runnable waiting for one, state (R: running or runnable)
Sample = tuple[float, dict[str, Thread]]  # (seconds since start, tid -> thread)


def sample(pid: int) -> dict[str, Thread]:
    out: dict[str, Thread] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run_ns, wait_ns = (int(x) for x in f.read().split()[:2])
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except (OSError, ValueError):
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        out[tid] = (name, run_ns, wait_ns, stat[stat.rindex(")") + 2])
    return out


def record(cmd: list[str], stdin_path: str, every: float) -> tuple[list[Sample], float, int]:
    with tempfile.TemporaryDirectory(prefix="drkit-timeline-") as site, open(stdin_path, "rb") as stdin:
        Path(site, "sitecustomize.py").write_text(SITECUSTOMIZE)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [site, os.environ.get("PYTHONPATH")]))}
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.DEVNULL, env=env)
        samples: list[Sample] = []
        while proc.poll() is None:
            snap = sample(proc.pid)
            if snap:
                samples.append((time.perf_counter() - t0, snap))
            time.sleep(every)
        return samples, time.perf_counter() - t0, proc.returncode


def binned(samples: list[Sample], width: float, end: float) -> tuple[dict[str, str], dict[str, list[float]]]:
    """Per thread: its name, and its on-CPU seconds in each bin (a sample interval's time goes to the bin
    of the interval's end)."""
    n = int(end / width) + 1
    names: dict[str, str] = {}
    per: dict[str, list[float]] = {}
    last: dict[str, int] = {}
    for t, snap in samples:
        b = min(int(t / width), n - 1)
        for tid, (name, run_ns, _, _) in snap.items():
            names[tid] = name
            row = per.setdefault(tid, [0.0] * n)
            row[b] += (run_ns - last.get(tid, 0)) / 1e9
            last[tid] = run_ns
    return names, per


def demand(samples: list[Sample], wall: float) -> str:
    """How long the command had 0, 1, 2, ... threads running or waiting for a CPU: what it could use on a quiet
    machine (with 2 CPUs, time at 0 or 1 leaves a CPU idle). Sampled, so an estimate."""
    spans: dict[int, float] = {}
    for (t, snap), t_next in zip(samples, [s[0] for s in samples[1:]] + [wall], strict=True):
        n = sum(1 for th in snap.values() if th[3] == "R")
        spans[n] = spans.get(n, 0.0) + t_next - t
    return ", ".join(f"{n}: {spans[n]:.2f} s" for n in sorted(spans))


def report(samples: list[Sample], wall: float, width: float) -> None:
    names, per = binned(samples, width, wall)
    final: dict[str, Thread] = {}
    for _, snap in samples:
        final.update(snap)
    order = sorted(per, key=lambda tid: -final[tid][1])
    print(f"  {'thread':<16} {'CPU s':>7} {'wait-CPU s':>10} {'first ran':>9} {'last ran':>8}")
    for tid in order:
        row = per[tid]
        active = [i for i, v in enumerate(row) if v > 0.0005]
        if final[tid][1] < 5e6 or not active:
            continue
        print(
            f"  {names[tid]:<16} {final[tid][1] / 1e9:7.2f} {final[tid][2] / 1e9:10.2f} "
            f"{active[0] * width:8.2f}s {(active[-1] + 1) * width:7.2f}s"
        )
    nbins = len(next(iter(per.values()))) if per else 0
    used = [sum(per[tid][i] for tid in per) / width for i in range(nbins)]
    ranges = (("under 0.5 CPU", 0.0, 0.5), ("0.5-1.5 CPUs", 0.5, 1.5), ("1.5 CPUs or more", 1.5, 99.0))
    print(f"\n  {width * 1000:.0f} ms bins by CPUs used (the run's {wall:.2f} s):")
    for label, lo, hi in ranges:
        bins = [i for i, u in enumerate(used) if lo <= u < hi]
        who: dict[str, float] = {}
        for i in bins:
            for tid in per:
                who[names[tid]] = who.get(names[tid], 0.0) + per[tid][i]
        top = ", ".join(f"{k} {v:.2f}" for k, v in sorted(who.items(), key=lambda kv: -kv[1])[:4] if v >= 0.005)
        print(f"    {label:<17} {len(bins) * width:6.2f} s   CPU s there: {top or '-'}")
    print(f"\n  threads running or runnable (state R), by time between samples: {demand(samples, wall)}")
    print(f"\n  timeline ({width * 1000:.0f} ms a column; digit = tenths of the bin on a CPU)")
    for tid in order:
        row = per[tid]
        if final[tid][1] < 5e6:
            continue
        cells = "".join("." if v < 0.0005 else str(min(9, int(v / width * 10))) for v in row)
        print(f"  {names[tid][:14]:<14} {cells}")


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--every", type=float, default=5.0, help="sampling interval, ms (default 5)")
    p.add_argument("--bin", type=float, default=50.0, help="bin width for the summary and timeline, ms (default 50)")


def main(argv: list[str]) -> int:
    parsed = traced_command(argv, __doc__ or "", _options)
    if parsed is None:
        return 2
    args, command = parsed
    samples, wall, code = record(command, args.stdin, args.every / 1000)
    print(f"wall {wall:.2f} s, exit {code}, {len(samples)} samples, load average {os.getloadavg()[0]:.2f}")
    report(samples, wall, args.bin / 1000)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
