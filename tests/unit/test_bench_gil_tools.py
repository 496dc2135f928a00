"""The issue-25 GIL measurement tools under bench/: their parsers of perf's output, and the sealing
prototype sealing a stream to as many bytes on processes as on threads."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[f"bench_{name}"] = module
    spec.loader.exec_module(module)
    return module


def test_gil_wait_sums_waits_on_the_runtime_words_apart_from_other_futexes() -> None:
    gil_wait = _load("gil_wait")
    waits = gil_wait.Waits(0xA5B740, 0xA5B740 + 0x28B20)
    for line in [
        # a wait on the GIL's mutex that perf splits over two lines
        "   230.514 (         ): drkit/10 futex(uaddr: 0xa5b8f8, op: WAIT|PRIVATE_FLAG, val: 2)   ...",
        "   230.916 ( 0.357 ms): drkit/11  ... [continued]: futex())   = 0",  # another thread's, never begun here
        "   231.000 ( 0.250 ms): drkit/10  ... [continued]: futex())   = 0",
        # complete on one line: the GIL's condition variable, then a queue's semaphore (heap)
        "   240.000 ( 1.500 ms): drkit/11 futex(uaddr: 0xa5b8f0, op: WAIT_BITSET|PRIVATE_FLAG, val3: MATCH_ANY) = 0",
        "   250.000 ( 2.000 ms): drkit/11 futex(uaddr: 0x7fb5c97fe990, op: WAIT_BITSET|CLOCK_REALTIME, val: 7) = 0",
        # a wake is no wait; perf's wrapped negative duration is dropped
        "   260.000 ( 0.030 ms): drkit/10 futex(uaddr: 0xa5b8f8, op: WAKE|PRIVATE_FLAG, val: 1) = 1",
        "   270.000 (18446744073709.461 ms): drkit/10 futex(uaddr: 0xa5b8f8, op: WAIT|PRIVATE_FLAG, val: 2) = 0",
    ]:
        waits.line(line)
    assert waits.gil == {"10": 0.25, "11": 1.5}
    assert waits.count == {"10": 1, "11": 1}
    assert waits.other == {"11": 2.0}
    assert "the GIL waited for 0.00 s" in waits.report(1.0)


def test_gil_share_counts_each_threads_samples_by_library() -> None:
    gil_share = _load("gil_share")
    lines = [
        "  100  7f00 _PyEval_EvalFrameDefault (/usr/bin/python3.11)",
        "  100  ffff exc_page_fault ([kernel.kallsyms])",
        "  101  7f01 ZSTD_compressBlock_doubleFast (/venv/zstandard/backend_c.cpython-311-x86_64-linux-gnu.so)",
        "  101  7f02 ZSTD_encodeSequences_bmi2 (/venv/zstandard/backend_c.cpython-311-x86_64-linux-gnu.so)",
        "  101  7f03 __memmove_avx512_unaligned_erms (/usr/lib/x86_64-linux-gnu/libc.so.6)",
        "not a sample line",
    ]
    per = gil_share.tally(lines)
    assert per == {"100": {"python": 1, "kernel": 1}, "101": {"backend_c": 2, "libc": 1}}
    text = gil_share.report(per, hz=1)
    assert text.startswith("CPU 5.00 s; in the interpreter (GIL held) 1.00 s (20 %)")
    assert "backend_c 67%" in text


def test_seal_procs_seals_as_many_bytes_on_processes_as_on_threads(tmp_path: Path) -> None:
    stream = tmp_path / "stream"
    with stream.open("wb") as f:  # text that compresses, then random bytes that do not
        f.write(b"".join(b"line %d of a log\n" % i for i in range(200_000)))
        f.write(os.urandom(3 << 20))
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "seal_procs.py"), str(stream), "--rounds", "1", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    sealed = dict(re.findall(r"^\s+(threads|processes)\s.*sealed\s+([\d.]+) MiB", out, re.M))
    assert set(sealed) == {"threads", "processes"}, out
    assert sealed["threads"] == sealed["processes"]
    assert 3.0 < float(sealed["threads"]) < stream.stat().st_size / 2**20, out


def test_thread_timeline_bins_each_threads_cpu_and_counts_runnable_threads() -> None:
    timeline = _load("thread_timeline")
    ms = 1_000_000
    samples = [  # (seconds, tid -> (name, ns on a CPU so far, ns waiting, state))
        (0.010, {"1": ("drkit", 10 * ms, 0, "R")}),
        (0.060, {"1": ("drkit", 20 * ms, 0, "S"), "2": ("drkit-seal_0", 40 * ms, 0, "R")}),
        (0.110, {"1": ("drkit", 30 * ms, 0, "R"), "2": ("drkit-seal_0", 90 * ms, 0, "R")}),
    ]
    names, per = timeline.binned(samples, 0.05, 0.15)
    assert names == {"1": "drkit", "2": "drkit-seal_0"}
    assert [round(v, 3) for v in per["1"]] == [0.01, 0.01, 0.01]
    assert [round(v, 3) for v in per["2"]] == [0.0, 0.04, 0.05]
    # 1 runnable thread from 0.010 to 0.110 (two samples), 2 from 0.110 to the end
    assert timeline.demand(samples, 0.15) == "1: 0.10 s, 2: 0.04 s"
