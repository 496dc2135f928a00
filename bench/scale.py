#!/usr/bin/env python3
"""Scale runs: time and peak RSS against size, three sizes per dimension, restic in the same run.

Dimensions (``--only``, default all three):

- stream: ``drkit backup stdin`` next to ``restic backup --stdin`` of a generated stream of each size
  (default 2, 6 and 20 GiB). The stream is made on the fly and fed through a pipe (no 20 GiB file):
  1 MiB blocks, each 16 pieces of 64 KiB cut at seeded offsets from a 64 MiB pool of log-like text
  (80 %) or random bytes (20 %), each piece led by a unique header. No two chunks are alike (no
  dedup) and the text compresses like logs (~3.7:1), so a repository holds ~40 % of the stream.
- files: ``drkit backup files`` next to ``restic backup`` of a tree of small files (default 50,000,
  150,000 and 500,000; 256-2047 random bytes each, 1000 to a directory, bench/prune.py's generator).
  The tree grows in place between sizes.
- index: a drkit repository of 1, 3 and 10 million blobs (bench/_scale_index.py says how they are
  made), and a small backup, a prune plan and a prune against it. drkit only: restic cannot be handed
  10 M blobs in less than hours either.

Every backup starts from a fresh repository (deleted after the size, so the disk holds one at a time);
the tools take turns (the order flips per size). Peak RSS is ``ru_maxrss`` of the tool's own process
(``os.wait4``). The growth check: time per unit (GiB, file, blob) at the largest size within 1.5x of
that at the smallest ("linear"); the must-show of issue 25: drkit's peak RSS on the largest tree at
most restic's.

Run: .venv/bin/python bench/scale.py [--sizes full|tiny] [--only stream,files,index] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    CAPTURE,
    MB,
    MIB,
    RunResult,
    TextBlocks,
    dir_size,
    fmt,
    format_table,
    load_note,
    machine_summary,
    random_block,
    ratio,
    run_measured,
    tool_version,
)
from _scale_index import IndexContext, env_with, run_index  # noqa: E402
from prune import _write_files  # noqa: E402  (the small-file generator of the prune bench)

PASSWORD = "drkit-bench-password-not-a-secret"
GIB = 1 << 30
PRESETS = {  # --sizes: stream MiB, files, index blobs
    "full": ([2048, 6144, 20480], [50_000, 150_000, 500_000], [1_000_000, 3_000_000, 10_000_000]),
    "medium": ([512, 1536, 5120], [20_000, 60_000, 200_000], [300_000, 1_000_000, 3_000_000]),
    "tiny": ([8, 16, 32], [300, 600, 1200], [3_000, 6_000, 12_000]),
}
LINEAR = 1.5  # time per unit at the largest size / at the smallest, at most
PIECE = 64 << 10


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------


def stream_blocks(size_mib: int, seed: int, pool_mib: int = 64) -> Iterator[bytes]:
    """The generated stream (see the module's docstring), 1 MiB at a time, ~1-2 GB/s."""
    rng = random.Random(f"scale-{seed}")
    text = TextBlocks(seed)
    text_pool = b"".join(text.block() for _ in range(pool_mib))
    rnd_pool = b"".join(random_block(seed, i) for i in range(pool_mib))
    for k in range(size_mib):
        pool = rnd_pool if rng.random() < 0.2 else text_pool
        parts = []
        for j in range(MIB // PIECE):
            head = f"\n#{seed}:{k}:{j}#\n".encode()
            off = rng.randrange(len(pool) - PIECE)
            parts += (head, pool[off : off + PIECE - len(head)])
        yield b"".join(parts)


def write_stream(size_mib: int, path: str, seed: int) -> None:
    """The stream into ``path`` (a FIFO; run as the generator process, see ``Tools.backup``)."""
    with open(path, "wb") as out:
        for block in stream_blocks(size_mib, seed):
            out.write(block)


def grow_tree(root: Path, have: int, want: int, seed: int) -> None:
    """Add files ``have..want`` to the tree, as one new part of it."""
    if want > have:
        _write_files(root / f"part-{have}", "scale", seed + have, want - have)


# --------------------------------------------------------------------------------------------------
# The tools
# --------------------------------------------------------------------------------------------------


class Tools:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        cache = work / "cache"
        self.env = {**env_with(PASSWORD, cache), "RESTIC_PASSWORD": PASSWORD, "RESTIC_CACHE_DIR": str(cache / "restic")}
        self.names = ["drkit"] if args.no_restic else ["drkit", "restic"]

    def order(self, n: int) -> list[str]:
        return self.names if n % 2 == 0 else list(reversed(self.names))

    def init(self, tool: str, repo: Path) -> None:
        argv = (
            [self.args.drkit, "init", "--repo", str(repo)]
            if tool == "drkit"
            else [self.args.restic, "--repo", str(repo), "init", "--repository-version", "2"]
        )
        self._checked(run_measured(argv, stdout=CAPTURE, env=self.env, timeout=self.args.timeout))

    def backup(self, tool: str, repo: Path, what: str, src: Path | None = None, size_mib: int = 0) -> RunResult:
        if tool == "drkit":
            argv = [self.args.drkit, "backup", "--repo", str(repo), "--json"]
            argv[2:2] = ["stdin", "--name", "scale"] if what == "stream" else ["files", str(src)]
        else:
            argv = [
                self.args.restic,
                "--repo",
                str(repo),
                "backup",
                "--compression",
                "auto",
                "--host",
                "bench",
                "--json",
                "--quiet",
                *(["--stdin", "--stdin-filename", "s.bin"] if what == "stream" else [str(src)]),
            ]
        if what != "stream":
            return self._checked(run_measured(argv, stdout=CAPTURE, env=self.env, timeout=self.args.timeout))
        # The stream comes from a generator process through a FIFO: ru_maxrss counts the memory a child
        # had before its exec, i.e. the bench's own, so the bench keeps no 128 MiB pools itself.
        fifo = self.work / "stream.fifo"
        os.mkfifo(fifo)
        gen = subprocess.Popen(
            [sys.executable, __file__, "--write-stream", str(size_mib), str(fifo), "--seed", str(self.args.seed)]
        )
        try:
            res = run_measured(argv, stdin=fifo, stdout=CAPTURE, env=self.env, timeout=self.args.timeout)
        finally:
            if gen.wait() != 0:
                raise SystemExit("the stream generator failed")
            fifo.unlink()
        return self._checked(res)

    def _checked(self, res: RunResult) -> RunResult:
        if not res.ok:
            raise SystemExit(f"{res.describe_failure()}\n{res.stderr_tail()}")
        return res


def processed(tool: str, res: RunResult) -> tuple[int, int]:
    """(bytes, files) the backup says it read, from its --json summary."""
    doc = json.loads(res.stdout.decode().strip().splitlines()[-1] if tool == "restic" else res.stdout)
    if tool == "restic":
        return int(doc["total_bytes_processed"]), int(doc["total_files_processed"])
    stats = doc.get("stats", doc)  # backup stdin: {"stats": {...}}; backup files: flat
    return int(stats["bytes_read"]), int(stats.get("files_read", 0))


# --------------------------------------------------------------------------------------------------
# Dimensions
# --------------------------------------------------------------------------------------------------


def log_run(label: str, res: RunResult) -> None:
    print(
        f"  {label:<34} {res.wall_s:9.2f} s  {res.maxrss_bytes / MIB:8.1f} MiB peak RSS  {res.cpu_s:8.2f} s CPU",
        flush=True,
    )


def backup_size(tools: Tools, what: str, n: int, size: int, src: Path | None) -> dict[str, dict[str, float]]:
    """Each tool's backup at one size, in a fresh repository deleted afterwards."""
    out = {}
    for tool in tools.order(n):
        repo = tools.work / f"{tool}-repo"
        tools.init(tool, repo)
        res = tools.backup(tool, repo, what, src, size // MIB)
        got_bytes, got_files = processed(tool, res)
        log_run(f"{tool} {what} {size / MIB if what == 'stream' else size:,.0f}", res)
        out[tool] = {
            "wall_s": res.wall_s,
            "cpu_s": res.cpu_s,
            "maxrss_bytes": res.maxrss_bytes,
            "repo_bytes": dir_size(repo),
            "bytes_read": got_bytes,
            "files_read": got_files,
        }
        if (got_bytes, got_files) != ((size, got_files) if what == "stream" else (got_bytes, size)):
            raise SystemExit(f"{tool} read {got_bytes:,} bytes in {got_files:,} files of {size:,} {what}")
        shutil.rmtree(repo)
    return out


def run_stream(tools: Tools, sizes_mib: list[int]) -> dict[int, dict[str, dict[str, float]]]:
    print(f"\nstream: {', '.join(f'{s:,} MiB' for s in sizes_mib)}", flush=True)
    return {s * MIB: backup_size(tools, "stream", i, s * MIB, None) for i, s in enumerate(sizes_mib)}


def run_files(tools: Tools, counts: list[int]) -> dict[int, dict[str, dict[str, float]]]:
    print(f"\nfiles: {', '.join(f'{c:,}' for c in counts)} files", flush=True)
    tree, have, out = tools.work / "tree", 0, {}
    for i, count in enumerate(counts):
        grow_tree(tree, have, count, tools.args.seed)
        have = count
        out[count] = backup_size(tools, "files", i, count, tree)
    shutil.rmtree(tree, ignore_errors=True)
    return out


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def growth_rows(
    unit: str, per: float, rate_per: float, figures: dict[int, dict[str, dict[str, float]]]
) -> list[list[str]]:
    """A row per size and tool: time, rate, peak RSS, the ratios to restic and the growth of the time
    per unit against the smallest size."""
    rows, sizes = [], sorted(figures)
    for size in sizes:
        for tool, f in figures[size].items():
            r = figures[size].get("restic")
            base = figures[sizes[0]][tool]
            growth = (f["wall_s"] / size) / (base["wall_s"] / sizes[0])
            rows.append(
                [
                    f"{size / per:,.0f} {unit}",
                    tool,
                    fmt(f["wall_s"], 2),
                    fmt(size / rate_per / f["wall_s"], 1),
                    fmt(f["maxrss_bytes"] / MIB, 1),
                    fmt(f["cpu_s"], 1),
                    fmt(ratio(f["wall_s"], r["wall_s"]) if r else None, 2, "x"),
                    fmt(ratio(f["maxrss_bytes"], r["maxrss_bytes"]) if r else None, 2, "x"),
                    fmt(growth, 2, "x"),
                ]
            )
    return rows


def verdicts(what: str, figures: dict[int, dict[str, dict[str, float]]], rss_goal: bool) -> list[str]:
    sizes = sorted(figures)
    lines = []
    for tool in figures[sizes[0]]:
        first, last = figures[sizes[0]][tool], figures[sizes[-1]][tool]
        g = (last["wall_s"] / sizes[-1]) / (first["wall_s"] / sizes[0])
        c = (last["cpu_s"] / sizes[-1]) / (first["cpu_s"] / sizes[0])  # what a busy machine moves least
        lines.append(
            f"{what}, {tool}: time per unit at the largest size {g:.2f}x the smallest's, CPU per unit {c:.2f}x "
            f"(goal <= {LINEAR}x: {'PASS' if g <= LINEAR else 'MISS'})"
        )
    big = figures[sizes[-1]]
    if rss_goal and "restic" in big:
        q = big["drkit"]["maxrss_bytes"] / big["restic"]["maxrss_bytes"]
        lines.append(
            f"{what}: drkit's peak RSS at the largest size {q:.2f}x restic's (goal <= 1.00x: "
            f"{'PASS' if q <= 1.0 else 'MISS'})"
        )
    return lines


HEADERS = [
    "size",
    "tool",
    "wall s",
    "{rate}",
    "peak RSS MiB",
    "CPU s",
    "time / restic",
    "RSS / restic",
    "s per unit vs smallest",
]


def print_backups(
    what: str, unit: str, per: float, rate: tuple[str, float], figures: dict, rss_goal: bool
) -> list[str]:
    headers = [h.format(rate=rate[0]) for h in HEADERS]
    print(f"\n{what}\n{format_table(headers, growth_rows(unit, per, rate[1], figures), left_cols=2)}")
    lines = verdicts(what, figures, rss_goal)
    print("\n".join(lines))
    return lines


def print_index(figures: dict[int, dict]) -> list[str]:
    steps = list(next(iter(figures.values()))["runs"])
    rows, sizes = [], sorted(figures)
    for n in sizes:
        for step in ["build", *steps]:
            f = figures[n]["build"] if step == "build" else figures[n]["runs"][step]
            base = figures[sizes[0]]["build"] if step == "build" else figures[sizes[0]]["runs"][step]
            rows.append(
                [
                    f"{n:,} blobs",
                    step,
                    fmt(f["wall_s"], 2),
                    fmt(f["maxrss_bytes"] / MIB, 1),
                    fmt(f.get("cpu_s"), 2),
                    fmt(f["wall_s"] / base["wall_s"], 2, "x"),
                    fmt(ratio(f.get("cpu_s"), base.get("cpu_s")), 2, "x"),
                    fmt(f["maxrss_bytes"] / base["maxrss_bytes"], 2, "x"),
                ]
            )
    print(
        "\nindex (drkit)\n"
        + format_table(
            [
                "size",
                "step",
                "wall s",
                "peak RSS MiB",
                "CPU s",
                "time vs smallest",
                "CPU vs smallest",
                "RSS vs smallest",
            ],
            rows,
            left_cols=2,
        )
    )
    grow = sizes[-1] / sizes[0]
    lines = []
    for step in ("prune", "small backup (16 MiB)"):
        first, last = figures[sizes[0]]["runs"][step], figures[sizes[-1]]["runs"][step]
        t, c = last["wall_s"] / first["wall_s"], last["cpu_s"] / first["cpu_s"]
        lines.append(
            f"index, {step}: {grow:.0f}x the blobs took {t:.2f}x the time, {c:.2f}x the CPU (linear: <= "
            f"{grow * LINEAR:.1f}x: {'PASS' if t <= grow * LINEAR else 'MISS'})"
        )
    print("\n".join(lines))
    return lines


# --------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------


def _ints(text: str) -> list[int]:
    return sorted(int(x) for x in text.split(",") if x.strip())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--sizes",
        choices=sorted(PRESETS),
        default="full",
        help="size preset: full (2/6/20 GiB, 50k/150k/500k files, 1/3/10 M blobs), medium, tiny",
    )
    p.add_argument("--stream-mib", type=_ints, default=None, help="stream sizes in MiB, e.g. 2048,6144,20480")
    p.add_argument("--files", type=_ints, default=None, help="tree sizes in files, e.g. 50000,150000,500000")
    p.add_argument("--index-blobs", type=_ints, default=None, help="index sizes in blobs, e.g. 1000000,3000000")
    p.add_argument("--only", default="stream,files,index", help="dimensions to run (comma-separated)")
    p.add_argument(
        "--segment",
        type=int,
        default=0,
        help="index blobs per snapshot (default: half the smallest index size, 500000 at full)",
    )
    p.add_argument("--no-restic", action="store_true", help="drkit only")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", type=Path, default=None, help="parent of the temp dir (default $TMPDIR)")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the figures to FILE")
    p.add_argument("--timeout", type=float, default=7200.0, help="per-command timeout in seconds")
    p.add_argument("--restic", default=shutil.which("restic") or "/usr/bin/restic")
    p.add_argument("--drkit", default=str(Path(sys.executable).with_name("drkit")))
    p.add_argument("--write-stream", nargs=2, metavar=("MIB", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    stream, files, index = PRESETS[args.sizes]
    args.stream_mib, args.files = args.stream_mib or stream, args.files or files
    args.index_blobs = args.index_blobs or index
    args.segment = args.segment or max(1, args.index_blobs[0] // 2)
    args.only = {d.strip() for d in args.only.split(",") if d.strip()}
    if not args.only <= {"stream", "files", "index"}:
        p.error("--only takes stream, files and index")
    return args


def run(args: argparse.Namespace, work: Path) -> dict[str, object]:
    tools, doc, lines = Tools(args, work), {}, []
    if "stream" in args.only:
        doc["stream"] = run_stream(tools, args.stream_mib)
    if "files" in args.only:
        doc["files"] = run_files(tools, args.files)
    if "index" in args.only:
        print(f"\nindex: {', '.join(f'{n:,}' for n in args.index_blobs)} blobs", flush=True)
        ctx = IndexContext(args.drkit, work, tools.env, args.timeout, args.segment, args.seed)
        doc["index"] = run_index(ctx, args.index_blobs, log_run)
    print(f"\n{load_note(warn_if_busy=False)} at the end; MiB = 2^20 bytes, MB/s = 10^6 bytes a second")
    if "stream" in doc:
        lines += print_backups("stream", "MiB", MIB, ("MB/s", MB), doc["stream"], False)
    if "files" in doc:
        lines += print_backups("files", "files", 1, ("files/s", 1), doc["files"], True)
    if "index" in doc:
        lines += print_index(doc["index"])
    doc["verdicts"] = lines
    return doc


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.write_stream:
        write_stream(int(args.write_stream[0]), args.write_stream[1], args.seed)
        return 0
    header = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "machine": machine_summary(),
        "load_at_start": os.getloadavg(),
        "versions": {
            "drkit": tool_version([args.drkit, "--version"]),
            "restic": tool_version([args.restic, "version"]),
        },
    }
    print(
        f"command: {header['command']}\nmachine: {header['machine']}; {load_note()}\n"
        f"drkit: {header['versions']['drkit']}\nrestic: {header['versions']['restic']}",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="drkit-bench-scale-", dir=args.workdir))
    try:
        doc = {**header, **run(args, work), "load_at_end": os.getloadavg()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return 1 if any("MISS" in ln for ln in doc["verdicts"]) else 0


if __name__ == "__main__":
    sys.exit(main())
