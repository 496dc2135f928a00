#!/usr/bin/env python3
"""Prune of a repository with a million blobs: `drkit prune` next to `restic prune`, same run, same files.

Both tools back up the same file tree, generation by generation, into fresh repositories; both then
forget the older half of the snapshots, and the bench times each tool's prune and takes its peak RSS.

- The tree holds many small files (256 to 2047 bytes of random data each, 1000 to a directory): a
  `shared/` part present in every generation and a `gen/` part rewritten for each. Neither tool splits
  a file that small (restic's minimum chunk is 512 KiB, drkit's 256 KiB at the default 1 MiB average),
  so each file is exactly one data blob in both repositories, plus one tree blob per directory: the
  two repositories hold the same blobs, in 16 MiB packs (both tools' default), in backup order.
- `--files N` unique files in all (default 1,000,000, ~1.1 GB of data); `--generations G` (default 4):
  20 % of the files are shared, the rest split evenly between generations. `forget --keep-last G/2`
  then leaves about 40 % of the data blobs unreferenced, mostly in whole packs.
- Timed: `restic prune` (0.14: repacks until at most 5 % is unused) and `drkit prune --grace 0` (marks
  and, with no other lock, deletes at once: one run frees the space, like restic's). Their dry runs
  (`restic prune --dry-run`, `drkit prune --dry-run --grace 0`) are timed first: the planning alone.
- Afterwards, untimed: `restic check` and `drkit check`; repository sizes; and a synthetic measurement of
  drkit's in-memory index (`--index-blobs`, default 10 million): peak RSS of a process that builds it,
  less that of the same process building an empty one.

Run: .venv/bin/python bench/prune.py [--files 1000000] [--generations 4] [--index-blobs 10000000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CAPTURE,
    MB,
    MIB,
    RunResult,
    checked,
    dir_size,
    fmt,
    format_table,
    load_note,
    machine_summary,
    ratio,
    run_measured,
    tool_version,
)

PASSWORD = "drkit-bench-password-not-a-secret"
PER_DIR = 1000


# --------------------------------------------------------------------------------------------------
# The tree
# --------------------------------------------------------------------------------------------------


def _write_files(base: Path, kind: str, seed: int, count: int) -> int:
    total = 0
    for i in range(count):
        d = base / f"d{i // PER_DIR:05d}"
        if i % PER_DIR == 0:
            d.mkdir(parents=True, exist_ok=True)
        digest = hashlib.shake_256(f"{seed}:{kind}:{i}".encode()).digest(2048)
        body = digest[: 256 + int.from_bytes(digest[:2], "little") % 1792]
        with open(d / f"f{i:07d}", "wb") as f:
            f.write(body)
        total += len(body)
    return total


def write_generation(root: Path, gen: int, shared: int, per_gen: int, seed: int) -> tuple[int, float]:
    """Write generation ``gen`` of the tree (the shared part only once); returns bytes written, seconds."""
    t0 = time.perf_counter()
    written = 0
    if gen == 0:
        written += _write_files(root / "shared", "shared", seed, shared)
    shutil.rmtree(root / "gen", ignore_errors=True)
    written += _write_files(root / "gen", f"gen{gen}", seed, per_gen)
    return written, time.perf_counter() - t0


# --------------------------------------------------------------------------------------------------
# The tools
# --------------------------------------------------------------------------------------------------


class Tools:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args, self.work = args, workdir
        self.repo = {"restic": workdir / "restic-repo", "drkit": workdir / "drkit-repo"}
        cache = workdir / "cache"
        self.env = {
            **os.environ,
            "RESTIC_PASSWORD": PASSWORD,
            "RESTIC_CACHE_DIR": str(cache / "restic"),
            "DRKIT_PASSWORD": PASSWORD,
            "XDG_CACHE_HOME": str(cache),
        }

    def argv(self, tool: str, *args: str) -> list[str]:
        if tool == "restic":
            return [self.args.restic, "--repo", str(self.repo["restic"]), *args]
        return [self.args.drkit, *args, "--repo", str(self.repo["drkit"])]

    def run(self, tool: str, *args: str, profile: str | None = None) -> RunResult:
        argv = self.argv(tool, *args)
        if profile and tool == "drkit":
            argv = [sys.executable, "-m", "cProfile", "-o", profile, "-m", "drkit.cli.main", *argv[1:]]
        return checked(run_measured(argv, stdout=CAPTURE, env=self.env, timeout=self.args.timeout), " ".join(argv))


def log_run(what: str, tool: str, res: RunResult) -> None:
    print(
        f"  {tool:<6} {what:<22} {res.wall_s:8.2f} s  {res.maxrss_bytes / MIB:7.1f} MiB peak RSS  "
        f"{res.cpu_s:7.2f} s CPU",
        flush=True,
    )


def build(tools: Tools, args: argparse.Namespace, tree: Path) -> dict[str, object]:
    shared = args.files // 5
    per_gen = (args.files - shared) // args.generations
    print(
        f"\nbuilding: {args.generations} generations of {shared:,} shared + {per_gen:,} own files "
        f"({shared + per_gen * args.generations:,} unique files) in {tree}",
        flush=True,
    )
    tools.run("restic", "init", "--repository-version", "2")
    tools.run("drkit", "init")
    data = 0
    for gen in range(args.generations):
        written, secs = write_generation(tree, gen, shared, per_gen, args.seed)
        data += written
        print(f"  generation {gen}: {written / MB:,.0f} MB written in {secs:.1f} s", flush=True)
        log_run(
            f"backup {gen}",
            "restic",
            tools.run("restic", "backup", "--host", "bench", "--compression", "auto", "--quiet", str(tree)),
        )
        log_run(f"backup {gen}", "drkit", tools.run("drkit", "backup", "files", "--quiet", str(tree)))
    shutil.rmtree(tree, ignore_errors=True)
    return {"files": shared + per_gen * args.generations, "data_bytes": data}


def blob_counts(tools: Tools) -> dict[str, int]:
    restic = json.loads(tools.run("restic", "stats", "--mode", "raw-data", "--json").stdout)
    drkit = json.loads(tools.run("drkit", "prune", "--dry-run", "--json").stdout)
    return {"restic": int(restic["total_blob_count"]), "drkit": int(drkit["live_blobs"])}


# --------------------------------------------------------------------------------------------------
# Synthetic index memory
# --------------------------------------------------------------------------------------------------

_INDEX_SCRIPT = """
import json, os, resource, sys, time
from drkit.repository.index import Index, RawPack
from drkit.repository.pack import _ENTRY
n, per = int(sys.argv[1]), 1000
index, t0 = Index(), time.perf_counter()
for p in range(0, n, per):
    ids = os.urandom(32 * min(per, n - p))
    entries = b"".join(_ENTRY.pack(0, ids[i:i + 32], i * 40, 40, 30) for i in range(0, len(ids), 32))
    index.add_raw(RawPack(f"{p:064x}", 1 << 24, entries), "synthetic")
loaded = time.perf_counter()
distinct = len(index)
flags = bytearray(index.entries)
found = sum(1 for i in range(0, n, max(1, n // 10000)) if index.find(index.entry_fields(i)[1]) == i)
print(json.dumps({"blobs": distinct, "load_s": loaded - t0, "table_s": time.perf_counter() - loaded,
                  "probes_ok": found, "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def index_memory(blobs: int) -> dict[str, float]:
    def measure(n: int) -> dict[str, float]:
        res = run_measured([sys.executable, "-c", _INDEX_SCRIPT, str(n)], stdout=CAPTURE, timeout=3600)
        if not res.ok:
            raise SystemExit(f"synthetic index failed: {res.stderr_tail()}")
        out: dict[str, float] = json.loads(res.stdout)
        return out

    base, full = measure(0), measure(blobs)
    extra = full["maxrss"] - base["maxrss"]
    return {
        "blobs": full["blobs"],
        "rss_bytes": full["maxrss"],
        "extra_bytes": extra,
        "bytes_per_blob": extra / max(1, blobs),
        "table_s": full["table_s"],
        "load_s": full["load_s"],
    }


# --------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--files", type=int, default=1_000_000, help="unique files, one blob each (default 1e6)")
    p.add_argument("--generations", type=int, default=4, help="snapshots per tool (even; default 4)")
    p.add_argument(
        "--index-blobs",
        type=int,
        default=10_000_000,
        help="blobs of the synthetic in-memory index measurement (0: skip; default 1e7)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", type=Path, default=None, help="parent of the temp dir (default $TMPDIR)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (tree removed, repositories kept)")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the figures to FILE")
    p.add_argument(
        "--profile",
        metavar="FILE",
        default=None,
        help="run the timed drkit prune under cProfile, stats to FILE (slows it down)",
    )
    p.add_argument("--timeout", type=float, default=7200.0)
    p.add_argument("--restic", default=shutil.which("restic") or "/usr/bin/restic")
    p.add_argument("--drkit", default=str(Path(sys.executable).with_name("drkit")))
    args = p.parse_args(argv)
    if args.files < 1000 or args.generations < 2 or args.generations % 2:
        p.error("--files must be >= 1000 and --generations even and >= 2")
    return args


def timed(tools: Tools, args: argparse.Namespace) -> dict[str, dict[str, RunResult]]:
    print("\ntimed (restic first, then drkit; both repositories are page-cache warm):", flush=True)
    runs: dict[str, dict[str, RunResult]] = {"dry": {}, "prune": {}}
    runs["dry"]["restic"] = tools.run("restic", "prune", "--dry-run")
    runs["dry"]["drkit"] = tools.run("drkit", "prune", "--dry-run", "--grace", "0", "--json")
    runs["prune"]["restic"] = tools.run("restic", "prune")
    runs["prune"]["drkit"] = tools.run("drkit", "prune", "--grace", "0", "--json", profile=args.profile)
    for step, by_tool in runs.items():
        for tool, res in by_tool.items():
            log_run("prune --dry-run" if step == "dry" else "prune", tool, res)
    return runs


def table(runs: dict[str, dict[str, RunResult]], sizes: dict[str, dict[str, int]]) -> list[list[str]]:
    def row(label: str, d: float | None, r: float | None, goal: str = "-", ok: bool | None = None) -> list[str]:
        result = "-" if goal == "-" else {True: "PASS", False: "MISS", None: "n/a"}[ok]
        return [label, fmt(d, 2), fmt(r, 2), fmt(ratio(d, r), 2, "x"), goal, result]

    p, dry = runs["prune"], runs["dry"]
    t = ratio(p["drkit"].wall_s, p["restic"].wall_s)
    m = ratio(p["drkit"].maxrss_bytes, p["restic"].maxrss_bytes)
    return [
        row("prune, wall s", p["drkit"].wall_s, p["restic"].wall_s, "<= 1.0x", None if t is None else t <= 1.0),
        row(
            "prune, peak RSS MiB",
            p["drkit"].maxrss_bytes / MIB,
            p["restic"].maxrss_bytes / MIB,
            "<= 0.5x",
            None if m is None else m <= 0.5,
        ),
        row("prune, CPU s", p["drkit"].cpu_s, p["restic"].cpu_s),
        row("dry run, wall s", dry["drkit"].wall_s, dry["restic"].wall_s),
        row("dry run, peak RSS MiB", dry["drkit"].maxrss_bytes / MIB, dry["restic"].maxrss_bytes / MIB),
        row("repository before, MiB", sizes["before"]["drkit"] / MIB, sizes["before"]["restic"] / MIB),
        row("repository after, MiB", sizes["after"]["drkit"] / MIB, sizes["after"]["restic"] / MIB),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    header = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "machine": machine_summary(),
        "versions": {
            "restic": tool_version([args.restic, "version"]),
            "drkit": tool_version([args.drkit, "--version"]),
        },
    }
    print(f"command: {header['command']}\nmachine: {header['machine']}; {load_note()}")
    print(f"restic: {header['versions']['restic']}\ndrkit: {header['versions']['drkit']}")
    workdir = Path(tempfile.mkdtemp(prefix="drkit-bench-prune-", dir=args.workdir))
    try:
        tools = Tools(args, workdir)
        built = build(tools, args, workdir / "tree")
        blobs = blob_counts(tools)
        print(f"  blobs: restic {blobs['restic']:,}, drkit {blobs['drkit']:,}")
        keep = str(args.generations // 2)
        tools.run("restic", "forget", "--keep-last", keep)
        tools.run("drkit", "forget", "--keep-last", keep)
        sizes = {"before": {t: dir_size(r) for t, r in tools.repo.items()}}
        runs = timed(tools, args)
        sizes["after"] = {t: dir_size(r) for t, r in tools.repo.items()}
        plan = json.loads(runs["prune"]["drkit"].stdout)
        print(
            f"  drkit: {plan['live_blobs']:,} live blobs; {len(plan['deleted_packs'])} packs deleted, "
            f"{len(plan['repack_packs'])} repacked, {plan['pending_marks']} marks left"
        )
        for tool in ("restic", "drkit"):
            tools.run(tool, "check")
        print("  restic check and drkit check passed")
        mem = index_memory(args.index_blobs) if args.index_blobs else None
        print(
            f"\n{blobs['drkit']:,} blobs (restic {blobs['restic']:,}), forget --keep-last {keep} of "
            f"{args.generations}; MiB = 2^20 bytes"
        )
        print(format_table(["", "drkit", "restic", "drkit/restic", "goal", "result"], table(runs, sizes)))
        if mem:
            print(
                f"in-memory index, {mem['blobs']:,.0f} synthetic blobs: {mem['extra_bytes'] / MB:,.0f} MB over "
                f"the interpreter ({mem['bytes_per_blob']:.1f} bytes a blob; process peak "
                f"{mem['rss_bytes'] / MB:,.0f} MB); lookup table built in {mem['table_s']:.1f} s"
            )
        print(f"at the end: {load_note(warn_if_busy=False)}")
        if args.json:
            doc = {
                **header,
                **built,
                "blobs": blobs,
                "sizes": sizes,
                "index_memory": mem,
                "drkit_plan": plan,
                "runs": {
                    s: {
                        t: {"wall_s": r.wall_s, "cpu_s": r.cpu_s, "maxrss_bytes": r.maxrss_bytes} for t, r in by.items()
                    }
                    for s, by in runs.items()
                },
            }
            Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        return 0
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
