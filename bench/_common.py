"""Helpers shared by the benches in bench/: deterministic test data, running a command while measuring
its wall time and peak RSS, and printing a table of figures with ratios.

Standard library only (blake3 is used for the stream digest when it is installed), so a bench can run
from any Python >= 3.11 that can start the tools it compares.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIB = 1 << 20
MB = 1_000_000

# --------------------------------------------------------------------------------------------------
# Deterministic data
# --------------------------------------------------------------------------------------------------

_WORDS = (
    "request response client server cache miss hit timeout retry backend upstream downstream connection "
    "closed opened accepted rejected user session token expired refreshed query table index scan rows "
    "returned bytes written read flushed commit rollback checkpoint vacuum replica primary lag segment "
    "archive restore snapshot chunk pack blob tree manifest lock acquired released worker queue job "
    "scheduled started finished failed warning error GET POST PUT DELETE /api/v1/items /api/v1/users "
    "/healthz /metrics status ok degraded latency tenant region eu-west-1 us-east-2 shard rebalanced"
).split()
_LEVELS = ("INFO",) * 6 + ("DEBUG",) * 3 + ("WARN", "ERROR")
_COMPONENTS = ("api", "db", "cache", "auth", "scheduler", "storage", "proxy", "worker", "gc", "ingest")


def _digest():
    try:
        import blake3

        return blake3.blake3(), "blake3"
    except ImportError:
        return hashlib.sha256(), "sha256"


def new_hasher():
    """A fresh hasher (blake3 if installed, else sha256) and the algorithm's name."""
    return _digest()


class TextBlocks:
    """Pseudo-log text, compressible like real logs (zstd-3 shrinks it ~3.7x), never repeating a block.

    A pool of ~40k distinct log lines is built once from a seeded Random and a word list; each block is a
    seeded random selection of pool lines (plus a block-number header), cut to the block size. Two blocks
    share no long byte runs at the same offsets, so chunk-level dedup finds nothing, while the per-block
    statistics stay those of log text. About 300 MB/s.
    """

    def __init__(self, seed: int, pool_lines: int = 40_000) -> None:
        self._rng = random.Random(f"text-{seed}")
        rng = self._rng
        lines = []
        for _ in range(pool_lines):
            msg = " ".join(rng.choices(_WORDS, k=rng.randint(4, 14)))
            lines.append(
                f"{rng.choice(_LEVELS):5} {rng.choice(_COMPONENTS)}[{rng.randint(100, 65535)}]: {msg} "
                f"id={rng.getrandbits(32):08x} dur={rng.randint(0, 5000)}ms\n".encode()
            )
        self._lines = lines
        self._mean = sum(map(len, lines)) / len(lines)
        self._count = 0

    def block(self, size: int = MIB) -> bytes:
        header = f"=== block {self._count} ===\n".encode()
        self._count += 1
        k = int(size / self._mean * 1.08) + 16
        data = header + b"".join(self._rng.choices(self._lines, k=k))
        while len(data) < size:
            data += b"".join(self._rng.choices(self._lines, k=64))
        return data[:size]


def random_block(seed: int | str, index: int, size: int = MIB) -> bytes:
    """Incompressible bytes, a pure function of (seed, index, size): shake_256, ~450 MB/s."""
    return hashlib.shake_256(f"random-{seed}-{index}".encode()).digest(size)


@dataclass
class StreamInfo:
    """What write_mixed_stream wrote."""

    path: Path
    size: int
    digest: str
    digest_alg: str
    composition: dict[str, int]  # kind -> MiB
    segments: int
    gen_seconds: float


def mixed_plan(size_mib: int, seed: int, shares: Sequence[tuple[str, float]]) -> list[tuple[str, int]]:
    """The segment plan of a mixed stream: a seeded shuffle of (kind, MiB) segments of 2 to 6 MiB each,
    with each kind's total as close to its share of size_mib as whole MiB allow."""
    rng = random.Random(f"plan-{seed}")
    totals = [round(share * size_mib) for _, share in shares]
    totals[-1] = size_mib - sum(totals[:-1])
    segments: list[tuple[str, int]] = []
    for (kind, _), total in zip(shares, totals, strict=True):
        left = total
        while left > 0:
            n = min(left, rng.randint(2, 6))
            segments.append((kind, n))
            left -= n
    rng.shuffle(segments)
    return segments


DEFAULT_SHARES: tuple[tuple[str, float], ...] = (("text", 0.45), ("random", 0.35), ("repeat", 0.20))


def mixed_blocks(
    size_mib: int, seed: int, shares: Sequence[tuple[str, float]] = DEFAULT_SHARES
) -> Iterator[tuple[str, bytes]]:
    """Yield (kind, 1 MiB block) for the deterministic mixed stream: "text" = TextBlocks, "random" =
    random_block, "repeat" = one fixed random 1 MiB block, interleaved in segments of a few MiB."""
    text = TextBlocks(seed)
    repeated = random_block(seed, -1)
    rnd_index = 0
    for kind, n in mixed_plan(size_mib, seed, shares):
        for _ in range(n):
            if kind == "text":
                yield kind, text.block()
            elif kind == "random":
                yield kind, random_block(seed, rnd_index)
                rnd_index += 1
            else:
                yield kind, repeated


def write_mixed_stream(path: Path, size_mib: int, seed: int = 1) -> StreamInfo:
    """Write the deterministic mixed stream (45 % text, 35 % random, 20 % one repeated 1 MiB block) to
    path and return its size, digest and composition."""
    t0 = time.perf_counter()
    hasher, alg = new_hasher()
    composition: dict[str, int] = {}
    size = 0
    with open(path, "wb") as f:
        for kind, block in mixed_blocks(size_mib, seed):
            f.write(block)
            hasher.update(block)
            size += len(block)
            composition[kind] = composition.get(kind, 0) + 1
    segments = len(mixed_plan(size_mib, seed, DEFAULT_SHARES))
    return StreamInfo(path, size, hasher.hexdigest(), alg, composition, segments, time.perf_counter() - t0)


def warm_page_cache(path: Path, bufsize: int = 8 * MIB) -> float:
    """Read a file once so that every measured run finds it in the page cache; returns seconds."""
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(bufsize)
        while f.readinto(buf):
            pass
    return time.perf_counter() - t0


def inode_probe(parent: Path, files: int = 2000) -> float:
    """Microseconds per new empty file, created in a new directory under ``parent`` (left there: deleting
    it would slow whatever creates files next). On ext4 without a journal (these machines), creating
    files near many deleted in the last ~15 minutes scans the recently deleted inodes: here 30-50 µs
    per file normally, 150-400 µs then (hand-run probes); restores of many files pay it per file."""
    probe_dir = Path(tempfile.mkdtemp(prefix="inode-probe-", dir=parent))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    t0 = time.perf_counter()
    for i in range(files):
        os.close(os.open(probe_dir / f"p{i}", flags, 0o600))
    return (time.perf_counter() - t0) / files * 1e6


def settle_inodes(parent: Path, above_us: float, max_wait_s: float, every_s: float = 60.0) -> float:
    """``inode_probe`` until it is at most ``above_us`` or ``max_wait_s`` have passed (waiting
    ``every_s`` between probes); returns the last probe, printing each."""
    deadline = time.monotonic() + max_wait_s
    while True:
        us = inode_probe(parent)
        slow = us > above_us
        print(
            f"  new-file probe: {us:.0f} µs per file" + (" (slow: recently deleted inodes?)" if slow else ""),
            flush=True,
        )
        if not slow or time.monotonic() + every_s > deadline:
            return us
        time.sleep(every_s)


def dir_size(path: Path) -> int:
    """Apparent size in bytes of all regular files under path (like `du -sb`)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


# --------------------------------------------------------------------------------------------------
# Running a command, measured
# --------------------------------------------------------------------------------------------------

StdinSpec = None | Path | str | Iterable[bytes]
StdoutSpec = None | str | Path | Callable[[bytes], object]
CAPTURE = "capture"


@dataclass
class RunResult:
    """One measured run. maxrss_bytes is the child's own peak RSS (os.wait4), not its children's."""

    argv: list[str]
    returncode: int
    wall_s: float
    maxrss_bytes: int
    stdout: bytes = b""
    stderr: bytes = b""
    cpu_s: float = 0.0  # user + system CPU seconds of the child
    timed_out: bool = False
    error: str = ""  # set when the command could not be started at all

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.error

    def stderr_tail(self, lines: int = 15) -> str:
        if self.error:
            return self.error
        text = self.stderr.decode(errors="replace").rstrip()
        return "\n".join(text.splitlines()[-lines:])

    def describe_failure(self) -> str:
        why = "timed out" if self.timed_out else self.error or f"exit code {self.returncode}"
        return f"{' '.join(self.argv)}: {why}"


def _feed(pipe, chunks: Iterable[bytes]) -> None:
    try:
        for chunk in chunks:
            pipe.write(chunk)
    except (BrokenPipeError, OSError):
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def _drain(pipe, sink: Callable[[bytes], object]) -> None:
    fd = pipe.fileno()
    while chunk := os.read(fd, MIB):
        sink(chunk)
    pipe.close()


@dataclass
class _Plumbing:
    stdin: object = subprocess.DEVNULL
    stdout: object = subprocess.DEVNULL
    feeder: Iterable[bytes] | None = None
    sink: Callable[[bytes], object] | None = None
    to_close: list = field(default_factory=list)
    capture_file: object = None


def _plumb(stdin: StdinSpec, stdout: StdoutSpec) -> _Plumbing:
    p = _Plumbing()
    if isinstance(stdin, str | Path):
        p.stdin = open(stdin, "rb")
        p.to_close.append(p.stdin)
    elif stdin is not None:
        p.stdin, p.feeder = subprocess.PIPE, stdin
    if stdout == CAPTURE:
        p.capture_file = p.stdout = tempfile.TemporaryFile()
        p.to_close.append(p.stdout)
    elif isinstance(stdout, str | Path):
        p.stdout = open(stdout, "wb")
        p.to_close.append(p.stdout)
    elif callable(stdout):
        p.stdout, p.sink = subprocess.PIPE, stdout
    return p


def _read_back(f) -> bytes:
    f.seek(0)
    return f.read()


def run_measured(
    argv: Sequence[str],
    *,
    stdin: StdinSpec = None,
    stdout: StdoutSpec = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
) -> RunResult:
    """Run argv and measure its wall time and peak RSS (ru_maxrss from os.wait4: the child itself).

    stdin:  None (/dev/null), a file path (the file is the child's stdin: no copying through Python), or
            an iterable of bytes chunks fed through a pipe by a thread.
    stdout: None (/dev/null), CAPTURE (kept in RunResult.stdout, via a temp file), a file path, or a
            callable that receives every chunk the child writes (read by a thread through a pipe).
    stderr is always captured (via a temp file, so a chatty child cannot block on a full pipe).
    timeout: kill the child after this many seconds (timed_out=True).
    """
    argv = [str(a) for a in argv]
    plumbing = _plumb(stdin, stdout)
    err_file = tempfile.TemporaryFile()
    plumbing.to_close.append(err_file)
    try:
        return _run(argv, plumbing, err_file, env, cwd, timeout)
    finally:
        for f in plumbing.to_close:
            f.close()


def run_synced(argv: Sequence[str], **kw: Any) -> RunResult:
    """``run_measured`` after a ``sync``: the step does not pay for an earlier one's dirty pages
    being written back meanwhile."""
    os.sync()
    return run_measured(argv, **kw)


def _run(argv: list[str], p: _Plumbing, err_file, env, cwd, timeout) -> RunResult:
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(argv, stdin=p.stdin, stdout=p.stdout, stderr=err_file, env=env, cwd=cwd)
    except OSError as exc:
        return RunResult(argv, 127, 0.0, 0, error=f"cannot start {argv[0]}: {exc}")
    threads = []
    if p.feeder is not None:
        threads.append(threading.Thread(target=_feed, args=(proc.stdin, p.feeder), daemon=True))
    if p.sink is not None:
        threads.append(threading.Thread(target=_drain, args=(proc.stdout, p.sink), daemon=True))
    for t in threads:
        t.start()
    timed_out = threading.Event()
    timer = None
    if timeout is not None:
        timer = threading.Timer(timeout, lambda: (timed_out.set(), proc.kill()))
        timer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: tell Popen
    if timer is not None:
        timer.cancel()
    for t in threads:
        t.join()
    out = _read_back(p.capture_file) if p.capture_file is not None else b""
    return RunResult(
        argv,
        proc.returncode,
        wall,
        usage.ru_maxrss * 1024,
        out,
        _read_back(err_file),
        usage.ru_utime + usage.ru_stime,
        timed_out.is_set(),
    )


# --------------------------------------------------------------------------------------------------
# Figures and tables
# --------------------------------------------------------------------------------------------------


def checked(res: RunResult, what: str = "") -> RunResult:
    """``res``, or exit the bench naming what failed and the tail of its stderr."""
    if not res.ok:
        raise SystemExit(f"{what + ' failed: ' if what else ''}{res.describe_failure()}\n{res.stderr_tail()}")
    return res


# Run by the Python drkit is installed in: writes the bytecode of drkit and storage_backends.
_COMPILE = (
    "import compileall, importlib.util, os, sys\n"
    "dirs = [os.path.dirname(importlib.util.find_spec(m).origin) for m in ('drkit', 'storage_backends')]\n"
    "sys.exit(0 if all(compileall.compile_dir(d, quiet=1) for d in dirs) else 1)\n"
)


def precompile_drkit(drkit_exe: str) -> str:
    """Write drkit's bytecode (``__pycache__``) before anything is timed, as an installed package has it
    (pip compiles a wheel's modules at install). An editable checkout run with ``PYTHONDONTWRITEBYTECODE=1``
    (this environment's default) has none, and every drkit run then compiled its ~130 modules again:
    ~0.1-0.15 s of start-up CPU no user pays. Returns a line saying what was done."""
    try:
        first = Path(drkit_exe).read_bytes()[:512].split(b"\n", 1)[0].decode()
    except (OSError, UnicodeDecodeError):
        first = ""
    if not first.startswith("#!"):
        return f"drkit bytecode: left as it is ({drkit_exe} is not a Python script)"
    python = first[2:].strip().split()[0]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    res = subprocess.run([python, "-c", _COMPILE], env=env, capture_output=True, timeout=600, check=False)
    ok = "written (untimed), as an installed package has it" if res.returncode == 0 else "could not be written"
    return f"drkit bytecode: {ok}"


def tool_version(argv: Sequence[str]) -> str:
    """The first line a ``--version``-style command prints, or why it could not say."""
    res = run_measured(argv, stdout=CAPTURE, timeout=60)
    text = (res.stdout or res.stderr).decode(errors="replace").strip()
    return text.splitlines()[0] if res.ok and text else f"unavailable ({res.describe_failure()})"


def mb_per_s(nbytes: int, seconds: float) -> float:
    """Throughput in decimal MB/s (10**6 bytes), the unit restic and most tools print."""
    return nbytes / MB / seconds if seconds > 0 else float("inf")


def median_or_none(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt(value: float | None, digits: int = 1, suffix: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{suffix}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], left_cols: int = 1) -> str:
    """A plain-text table: the first left_cols columns left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, (cell, w) in enumerate(zip(cells, widths, strict=True)):
            out.append(str(cell).ljust(w) if i < left_cols else str(cell).rjust(w))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def machine_summary() -> str:
    """One line: CPU count, memory, kernel, for the top of a bench's output."""
    try:
        with open("/proc/meminfo") as f:
            mem_kib = int(next(ln for ln in f if ln.startswith("MemTotal")).split()[1])
        mem = f"{mem_kib / MIB:.1f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        mem = "RAM unknown"
    u = os.uname()
    return f"{os.cpu_count()} CPUs, {mem}, {u.sysname} {u.release}"


def load_note(warn_if_busy: bool = True) -> str:
    """The 1-minute load average, with a warning when the machine is busier than its CPU count (call it
    with warn_if_busy=False once the bench itself has been loading the machine)."""
    load1 = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    busy = warn_if_busy and load1 > cpus
    warn = f" -- BUSY (> {cpus} CPUs): absolute figures unreliable, ratios less so" if busy else ""
    return f"load average {load1:.2f}{warn}"


# --------------------------------------------------------------------------------------------------
# CPU scaling (--cpus 1,2): the same bench with the tools pinned to 1, then 2 CPUs
# --------------------------------------------------------------------------------------------------


def cpu_prefixes(spec: str) -> list[tuple[int, list[str]]]:
    """``"1,2"`` -> [(1, ["taskset", "-c", "0"]), (2, ["taskset", "-c", "0,1"])]: the first N CPUs this
    process may use; ``""`` -> [(0, [])] (no pinning). Both tools follow the pinning: restic's Go
    runtime and drkit size their thread pools from the affinity."""
    if not spec:
        return [(0, [])]
    mine = sorted(os.sched_getaffinity(0))
    out = []
    for n in (int(x) for x in spec.split(",") if x.strip()):
        if not 1 <= n <= len(mine):
            raise SystemExit(f"--cpus: {n} CPUs asked, this process may use {len(mine)}")
        out.append((n, ["taskset", "-c", ",".join(map(str, mine[:n]))]))
    return out


def scaling_table(speeds: dict[int, dict[str, dict[str, float | None]]]) -> str:
    """speeds[cpus][figure][tool] (MB/s, higher is better) -> one row per figure and tool, a column per
    CPU count and the ratio of the most CPUs to the fewest."""
    counts = sorted(speeds)
    figures = list(next(iter(speeds.values())))
    rows = []
    for figure in figures:
        for tool in speeds[counts[0]][figure]:
            vals = [speeds[n][figure].get(tool) for n in counts]
            rows.append([figure, tool, *[fmt(v) for v in vals], fmt(ratio(vals[-1], vals[0]), 2, "x")])
    headers = ["figure (MB/s)", "tool", *[f"{n} CPU" for n in counts], f"{counts[-1]} / {counts[0]} CPU"]
    return format_table(headers, rows, left_cols=2)


def traced_command(
    argv: list[str], doc: str, options: Callable[[argparse.ArgumentParser], object] | None = None
) -> tuple[argparse.Namespace, list[str]] | None:
    """For a bench that runs one command under a tracer (``TOOL [--stdin FILE] -- COMMAND...``): its
    options (``options`` adds the tool's own) and the command; None, with the usage (the docstring's ``Run:``
    line) printed, if no ``--``."""
    if "--" not in argv:
        print(doc.split("Run: ")[1].strip(), file=sys.stderr)
        return None
    cut = argv.index("--")
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--stdin", default="/dev/null", help="the command's standard input (default /dev/null)")
    if options is not None:
        options(p)
    return p.parse_args(argv[:cut]), argv[cut + 1 :]
