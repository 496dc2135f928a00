#!/usr/bin/env python3
"""Where each thread of a command spends its CPU, by library: how much of it holds the GIL (issue 25).

Runs COMMAND under ``perf record`` (sampling on-CPU time at 999 Hz) and prints, per thread, its CPU
seconds and the share of its samples in each library: the interpreter (``python3.x``: running Python
code, which holds the GIL), the C extensions that release it for their work (zstd's ``backend_c``,
``blake3``, ``fastcdc``, cryptography's ``_rust``), libc (memory copies and malloc, which hold the GIL
where Python code called them) and the kernel (system calls: most release it). On-CPU samples do not
depend on the machine's load, so unlike wall times these shares compare across runs: a thread
whose interpreter share is small cannot gain from running in its own process, whatever its wall time.

Run: .venv/bin/python bench/gil_share.py [--stdin FILE] -- taskset -c 0,1 .venv/bin/drkit backup stdin --repo R
Needs perf (linux-perf) and root (or perf_event_paranoid <= 1).
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import traced_command  # noqa: E402

HZ = 999
_SAMPLE = re.compile(r"^\s*(\d+)\s+\S+\s+(.*)\((.+)\)\s*$")


def library(dso: str) -> str:
    """A short name for a sample's DSO: ``python`` for the interpreter, ``kernel``, else the file's stem."""
    name = dso.rsplit("/", 1)[-1]
    if name.startswith("python3"):
        return "python"
    if name.startswith("[kernel"):
        return "kernel"
    return name.split(".", 1)[0]


def tally(lines: Iterable[str]) -> dict[str, collections.Counter[str]]:
    """Samples per thread id and library, from ``perf script -F tid,ip,sym,dso`` lines."""
    per: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for text in lines:
        m = _SAMPLE.match(text)
        if m:
            per[m.group(1)][library(m.group(3))] += 1
    return per


def report(per: dict[str, collections.Counter[str]], hz: int = HZ) -> str:
    total = sum(sum(c.values()) for c in per.values())
    held = sum(c["python"] for c in per.values())
    rows = [
        f"CPU {total / hz:.2f} s; in the interpreter (GIL held) {held / hz:.2f} s ({held * 100 / max(total, 1):.0f} %)"
    ]
    for tid, c in sorted(per.items(), key=lambda kv: -sum(kv[1].values())):
        n = sum(c.values())
        if n * 100 >= total:  # threads with at least 1 % of the samples
            shares = "  ".join(f"{lib} {k * 100 / n:.0f}%" for lib, k in c.most_common(6))
            rows.append(f"  thread {tid:>8} {n / hz:6.2f} s  {shares}")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    parsed = traced_command(argv, __doc__ or "")
    if parsed is None:
        return 2
    args, command = parsed
    with tempfile.TemporaryDirectory(prefix="gil-share-") as tmp, open(args.stdin, "rb") as stdin:
        data = Path(tmp) / "perf.data"
        rc = subprocess.run(
            ["perf", "record", "-q", "-F", str(HZ), "-o", str(data), "--", *command],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
        ).returncode
        script = subprocess.run(
            ["perf", "script", "-i", str(data), "-F", "tid,ip,sym,dso"],
            capture_output=True,
            text=True,
            check=True,
        )
    print(f"exit {rc}; " + report(tally(script.stdout.splitlines())))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
