#!/usr/bin/env python3
"""File-tree backup: drkit next to restic and Borg 1.4 on the same deterministic tree, in one run, as ratios.

Builds a mixed tree once (~1 GiB by default, ~20k files): source-code-like small text files in nested
directories, compressible log files, random binaries and duplicate copies of some of them. Then, for each
round, with fresh repositories and the tools taking turns at every step (the order is reversed on even
rounds):

    init  ->  first backup  ->  unchanged re-run  ->  (change ~1 % of the bytes)  ->  changed re-run
          ->  restore into an empty directory, both tools  ->  verify both against the tree (untimed)

The change is undone (the same bytes written back in place) before the next round. Nothing is deleted
until every round is done: on ext4 without a journal (these machines), creating files within seconds to
minutes of deleting many others costs a scan of the recently deleted inodes for every new inode, which
made whichever restore came right after a `rm -rf` up to 3x slower. That lasts ~10-15 minutes here
(also after the previous run's clean-up, or anything else that deleted many files): the run starts by
creating empty files in its work directory, and waits (up to --settle-max seconds, probing every
minute) while one costs more than --settle-above-us microseconds; the same probe is printed before
each round's restores.

restic: `restic init --repository-version 2`, `restic backup --compression auto --host bench SRC`,
        `restic restore latest --target DIR`.
drkit:  `drkit init --repo DIR`, `drkit backup files SRC --repo DIR --json`,
        `drkit restore latest --target DIR --repo DIR`.
Borg:   `borg init --encryption repokey-blake2`, `borg create --compression zstd,3 REPO::bN SRC`,
        `borg extract REPO::bN` in DIR (bench/_borg.py: where it comes from; left out when absent).

Prints first-backup throughput, re-run times, repository size (after the first backup), restore
throughput and peak RSS (os.wait4 ru_maxrss of the tool's own process, measured the same way for each),
each with drkit/restic (the issue's goals are over restic) and drkit/borg, and `cp -a` of the tree as the
floor of any restore. With --rounds N, the figures are medians over the rounds (the ratio is taken
between the medians) and peak RSS is the maximum over every run of every round.

Run: .venv/bin/python bench/files.py [--size-mib 1024] [--rounds 1] [--json bench/out/files.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _borg  # noqa: E402
from _common import (  # noqa: E402
    CAPTURE,
    MB,
    MIB,
    RunResult,
    TextBlocks,
    cpu_prefixes,
    dir_size,
    fmt,
    format_table,
    inode_probe,
    load_note,
    machine_summary,
    mb_per_s,
    median_or_none,
    random_block,
    ratio,
    run_synced,
    scaling_table,
    settle_inodes,
    tool_version,
)

PASSWORD = "drkit-bench-password-not-a-secret"
STEPS = ("first", "rerun", "changed", "restore")
LABELS = {"first": "first backup", "rerun": "unchanged re-run", "changed": "1 %-changed re-run", "restore": "restore"}

# --------------------------------------------------------------------------------------------------
# The tree
# --------------------------------------------------------------------------------------------------


@dataclass
class TreeInfo:
    root: Path
    files: int = 0
    dirs: int = 0
    size: int = 0
    kinds: dict[str, int] = field(default_factory=dict)  # kind -> bytes

    def add(self, path: Path, data: bytes, kind: str) -> None:
        path.write_bytes(data)
        self.files += 1
        self.size += len(data)
        self.kinds[kind] = self.kinds.get(kind, 0) + len(data)


def _source_file(rng: random.Random, text: TextBlocks) -> bytes:
    size = int(rng.lognormvariate(8.3, 0.9))  # median ~4 KiB
    body = text.block(min(max(size, 200), 256 << 10))
    return b"# generated module\nimport os\n\n" + body.replace(b"=== block", b"def block")


def build_tree(root: Path, size_mib: int, seed: int) -> TreeInfo:
    """Shares of the bytes: ~10 % source files (~20k per GiB), 40 % logs, 35 % random, 15 % duplicates."""
    rng = random.Random(f"tree-{seed}")
    text = TextBlocks(seed)
    info = TreeInfo(root)
    budget = size_mib * MIB
    src_target, log_target, bin_target = budget * 0.10, budget * 0.40, budget * 0.35
    n_src = max(50, int(20_000 * size_mib / 1024))
    for i in range(n_src):
        d = root / "src" / f"pkg{i % 97:02d}" / f"sub{(i // 97) % 11}"
        if i < 97 * 11:
            d.mkdir(parents=True, exist_ok=True)
            info.dirs += 1
        info.add(d / f"module_{i}.py", _source_file(rng, text)[: int(src_target / n_src * 2)], "source")
    originals: list[Path] = []
    (root / "logs").mkdir()
    i = 0
    while info.kinds.get("logs", 0) < log_target:
        n = rng.randint(1, 8)
        info.add(root / "logs" / f"app-{i:04d}.log", b"".join(text.block() for _ in range(n)), "logs")
        originals.append(root / "logs" / f"app-{i:04d}.log")
        i += 1
    (root / "bin").mkdir()
    i = 0
    while info.kinds.get("random", 0) < bin_target:
        n = rng.randint(1, 12)
        data = b"".join(random_block(seed, i * 100 + k) for k in range(n))[: n * MIB - rng.randint(0, MIB - 1)]
        info.add(root / "bin" / f"blob-{i:04d}.bin", data, "random")
        originals.append(root / "bin" / f"blob-{i:04d}.bin")
        i += 1
    (root / "copies").mkdir()
    while info.size < budget:
        orig = rng.choice(originals)
        info.add(root / "copies" / f"{info.files}-{orig.name}", orig.read_bytes(), "duplicate")
    info.dirs += 4
    return info


Undo = list[tuple[Path, int, bytes]]  # (file, offset, the bytes a change overwrote)


def change_one_percent(info: TreeInfo, seed: int) -> tuple[int, Undo]:
    """Rewrite a region in the middle of every 50th file (sizes kept) so that 1 % of all bytes change:
    small files are rewritten whole, the rest of the budget goes to the larger chosen files. Returns the
    bytes changed and what ``undo_change`` needs to write the old bytes back."""
    chosen = sorted((p for p in info.root.rglob("*") if p.is_file()), key=str)[::50]
    sizes = {p: p.stat().st_size for p in chosen}
    left = info.size // 100
    changed = 0
    undo: Undo = []
    for n, path in enumerate(sorted(chosen, key=lambda p: (sizes[p], str(p)))):
        share = left // (len(chosen) - n)
        length = min(sizes[path], share)
        offset = (sizes[path] - length) // 2
        with open(path, "r+b") as f:
            f.seek(offset)
            undo.append((path, offset, f.read(length)))
            f.seek(offset)
            f.write(hashlib.shake_256(f"change-{seed}-{n}".encode()).digest(length))
        changed += length
        left -= length
    return changed, undo


def undo_change(undo: Undo) -> None:
    for path, offset, old in undo:
        with open(path, "r+b") as f:
            f.seek(offset)
            f.write(old)


def tree_digest(root: Path) -> str:
    h = hashlib.blake2b()
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root)).encode()
        h.update(rel + b"\0")
        if p.is_file() and not p.is_symlink():
            h.update(hashlib.blake2b(p.read_bytes()).digest())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------
# The tools
# --------------------------------------------------------------------------------------------------


BORG_NAMES = _borg.Archives()


def argv_for(tool: str, step: str, exe: str, repo: Path, src: Path, target: Path) -> list[str]:
    if tool == "borg":  # extract writes into its working directory: run_step runs it in ``target``
        if step == "init":
            return _borg.init_argv(exe, repo)
        if step == "restore":
            return [exe, "extract", BORG_NAMES.last(repo)]
        return [exe, "create", "--compression", _borg.COMPRESSION, BORG_NAMES.next(repo), str(src)]
    if tool == "restic":
        base = [exe, "--repo", str(repo)]
        if step == "init":
            return [*base, "init", "--repository-version", "2"]
        if step == "restore":
            return [*base, "restore", "latest", "--target", str(target)]
        return [*base, "backup", "--compression", "auto", "--host", "bench", "--json", str(src)]
    if step == "init":
        return [exe, "init", "--repo", str(repo)]
    if step == "restore":
        return [exe, "restore", "latest", "--target", str(target), "--repo", str(repo)]
    return [exe, "backup", "files", str(src), "--repo", str(repo), "--json"]


@dataclass
class ToolRun:
    name: str
    exe: str
    repo: Path
    env: dict[str, str]
    runs: dict[str, RunResult] = field(default_factory=dict)
    repo_bytes: int | None = None
    verified: bool | None = None
    failed: str | None = None
    prefix: list[str] = field(default_factory=list)  # taskset -c ... with --cpus


def run_step(t: ToolRun, step: str, src: Path, target: Path, timeout: float) -> None:
    if t.failed:
        return
    cwd = None
    if t.name == "borg" and step == "restore":
        target.mkdir()
        cwd = target
    res = run_synced(
        [*t.prefix, *argv_for(t.name, step, t.exe, t.repo, src, target)],
        stdout=CAPTURE,
        env=t.env,
        timeout=timeout,
        cwd=cwd,
    )
    if step != "init":
        t.runs[step] = res
    if not res.ok:
        t.failed = f"{step}: {res.describe_failure()}\n{res.stderr_tail()}"
        print(f"  {t.name:<6} {step}: FAILED\n{res.stderr_tail()}", flush=True)
    elif step != "init":
        print(
            f"  {t.name:<6} {LABELS[step]:<20} {res.wall_s:8.2f} s  {res.maxrss_bytes / MIB:7.1f} MiB RSS  "
            f"{res.cpu_s:7.2f} s CPU",
            flush=True,
        )


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def figures(t: ToolRun, size: int) -> dict[str, float | None]:
    def wall(step: str) -> float | None:
        r = t.runs.get(step)
        return r.wall_s if r is not None and r.ok else None

    def cpu(step: str) -> float | None:
        r = t.runs.get(step)
        return r.cpu_s if r is not None and r.ok else None

    rss = [r.maxrss_bytes for r in t.runs.values() if r.ok]
    first, restore = wall("first"), wall("restore")
    return {
        "first_mbps": mb_per_s(size, first) if first else None,
        "rerun_s": wall("rerun"),
        "changed_s": wall("changed"),
        "repo_mib": t.repo_bytes / MIB if t.repo_bytes else None,
        "restore_mbps": mb_per_s(size, restore) if restore else None,
        "peak_rss_mib": max(rss) / MIB if rss else None,
        "first_cpu_s": cpu("first"),
        "restore_cpu_s": cpu("restore"),
    }


ROWS = (  # key, label, unit, goal text, passes(ratio)
    ("first_mbps", "first backup", "MB/s", ">= 2.00x", lambda r: r >= 2.0),
    ("rerun_s", "unchanged re-run", "s", "<= 1.00x", lambda r: r <= 1.0),
    ("changed_s", "1 %-changed re-run", "s", "(none)", None),
    ("repo_mib", "repository size", "MiB", "<= 1.05x", lambda r: r <= 1.05),
    ("restore_mbps", "restore", "MB/s", ">= 2.00x", lambda r: r >= 2.0),
    ("peak_rss_mib", "peak RSS", "MiB", "<= 1.00x", lambda r: r <= 1.0),
    # CPU seconds (user + system) depend far less on the machine's other load than wall times do
    ("first_cpu_s", "first backup, CPU", "s", "(none)", None),
    ("restore_cpu_s", "restore, CPU", "s", "(none)", None),
)


def report(c: dict[str, dict[str, float | None]]) -> tuple[str, list[dict[str, object]]]:
    """The table of combined figures per tool (drkit, restic, and Borg when it ran); goals are over restic."""
    d, r, b = c["drkit"], c["restic"], c.get("borg")
    rows, doc = [], []
    for key, label, unit, goal, passes in ROWS:
        q = ratio(d[key], r[key])
        mark = "" if passes is None or q is None else ("PASS" if passes(q) else "MISS")
        borg = [fmt(b[key], 2), fmt(ratio(d[key], b[key]), 2, "x")] if b is not None else []
        rows.append([label, unit, fmt(d[key], 2), fmt(r[key], 2), *borg[:1], fmt(q, 2, "x"), *borg[1:], goal, mark])
        doc.append(
            {
                "figure": key,
                "drkit": d[key],
                "restic": r[key],
                "ratio": q,
                "goal": goal,
                "result": mark,
                **({"borg": b[key], "ratio_borg": ratio(d[key], b[key])} if b is not None else {}),
            }
        )
    extra = ["borg", "drkit/borg"] if b is not None else []
    headers = [
        "figure",
        "unit",
        "drkit",
        "restic",
        *extra[:1],
        "drkit/restic",
        *extra[1:],
        "goal (vs restic)",
        "result",
    ]
    return format_table(headers, rows, left_cols=2), doc


def combine(per_round: list[dict[str, float | None]]) -> dict[str, float | None]:
    """Medians over the rounds; peak RSS is the maximum."""
    out = {key: median_or_none(f[key] for f in per_round) for key in per_round[0]}
    rss = [f["peak_rss_mib"] for f in per_round if f["peak_rss_mib"] is not None]
    out["peak_rss_mib"] = max(rss) if rss else None
    return out


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mib", type=int, default=1024, help="tree size in MiB (default 1024, ~20k files)")
    p.add_argument("--rounds", type=int, default=1, help="rounds with fresh repositories; medians (default 1)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", type=Path, default=None, help="parent of the temp dir (default: system temp)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the figures to FILE")
    p.add_argument("--timeout", type=float, default=3600.0)
    p.add_argument(
        "--settle-max",
        type=float,
        default=900.0,
        metavar="S",
        help="wait up to S seconds at the start for new files to be cheap again (default 900; 0: probe once)",
    )
    p.add_argument(
        "--settle-above-us",
        type=float,
        default=100.0,
        metavar="US",
        help="a new empty file costing more than US microseconds means wait (default 100)",
    )
    p.add_argument("--restic", default=shutil.which("restic") or "/usr/bin/restic")
    p.add_argument(
        "--borg",
        default="",
        metavar="PATH|none",
        help="Borg 1.4 executable (default: the bench's venv, bench/_borg.py, else borg on PATH; none: leave Borg out)",
    )
    p.add_argument("--drkit", default=str(Path(sys.executable).with_name("drkit")))
    p.add_argument(
        "--cpus",
        default="",
        metavar="N,M",
        help="run the rounds once per CPU count, pinned with taskset to the first N CPUs, and print "
        "how the speeds scale (e.g. 1,2; default: no pinning)",
    )
    args = p.parse_args(argv)
    if args.rounds < 1 or args.size_mib < 1:
        p.error("--rounds and --size-mib must be >= 1")
    return args


@dataclass
class Round:
    tools: list[ToolRun]  # restic, drkit, then Borg when it runs
    changed: int  # bytes the change touched
    floor_s: float | None  # ``cp -a`` of the tree: the floor of any restore here
    floor_cpu_s: float | None  # its CPU seconds (user + system)
    probe_us: float  # a new empty file just before the restores (``inode_probe``)


def run_round(args: argparse.Namespace, work: Path, info: TreeInfo, n: int, prefix: list[str]) -> Round:
    """One round in ``work``, the tools run under ``prefix`` (taskset, or nothing)."""
    work.mkdir()
    restic = ToolRun(
        "restic",
        args.restic,
        work / "restic-repo",
        {**os.environ, "RESTIC_PASSWORD": PASSWORD, "RESTIC_CACHE_DIR": str(work / "restic-cache")},
    )
    drkit = ToolRun(
        "drkit",
        args.drkit,
        work / "drkit-repo",
        {**os.environ, "DRKIT_PASSWORD": PASSWORD, "XDG_CACHE_HOME": str(work / "drkit-cache")},
    )
    tools = [restic, drkit]
    if args.borg_exe:
        tools.append(
            ToolRun(
                "borg", args.borg_exe, work / "borg-repo", {**os.environ, **_borg.env(work / "borg-base", PASSWORD)}
            )
        )
    for t in tools:
        t.prefix = prefix
    order = tools if n % 2 else list(reversed(tools))
    under = f" under {' '.join(prefix)}" if prefix else ""
    print(f"round {n}{under}: {' then '.join(t.name for t in order)} at every step", flush=True)
    src = info.root
    for step in ("init", "first", "rerun"):
        for t in order:
            run_step(t, step, src, work / f"restore-{t.name}", args.timeout)
            if step == "first" and not t.failed:
                t.repo_bytes = dir_size(t.repo)
    changed, undo = change_one_percent(info, args.seed)
    print(f"  changed {changed / MIB:.1f} MiB ({100 * changed / info.size:.2f} % of the bytes)", flush=True)
    try:
        for t in order:
            run_step(t, "changed", src, work / f"restore-{t.name}", args.timeout)
        probe_us = inode_probe(work)
        print(f"  new-file probe before the restores: {probe_us:.0f} µs per file", flush=True)
        for t in order:  # both restores before any verification or deletion
            run_step(t, "restore", src, work / f"restore-{t.name}", args.timeout)
        want = tree_digest(src)
    finally:
        undo_change(undo)
    for t in order:
        target = work / f"restore-{t.name}"
        restored = target / "tree" if t.name == "drkit" else target / str(src).lstrip("/")  # restic, Borg
        t.verified = not t.failed and tree_digest(restored) == want
        print(f"  {t.name:<6} restore {'verified' if t.verified else 'DOES NOT MATCH the tree'}", flush=True)
    floor_s, floor_cpu_s = copy_floor(src, work / "floor-copy", args.timeout)
    return Round(tools, changed, floor_s, floor_cpu_s, probe_us)


def copy_floor(src: Path, dest: Path, timeout: float) -> tuple[float | None, float | None]:
    """``cp -a`` of the tree (page cache warm) into a new directory: what writing these files costs the
    kernel on this machine, with no reading, decrypting or verifying at all. The copy stays until the
    end, like the restores (deleting it made the next round's restores pay the scan)."""
    res = run_synced(["cp", "-a", str(src), str(dest)], timeout=timeout)
    if not res.ok:
        return None, None
    print(f"  cp -a  of the tree (floor)   {res.wall_s:8.2f} s  {res.cpu_s:7.2f} s CPU", flush=True)
    return res.wall_s, res.cpu_s


Figures = dict[str, dict[str, float | None]]  # tool -> figure -> value


def run_pinned(
    args: argparse.Namespace, work: Path, info: TreeInfo, cpus: int, prefix: list[str]
) -> tuple[list[Round], Figures, list[Figures]]:
    """The rounds with the tools pinned to ``cpus`` CPUs (0: not pinned); their table is printed."""
    where = f"cpus-{cpus}-" if cpus else ""
    rounds = [run_round(args, work / f"{where}round-{n}", info, n, prefix) for n in range(1, args.rounds + 1)]
    per_round = [{t.name: figures(t, info.size) for t in rd.tools} for rd in rounds]
    floor = median_or_none(rd.floor_s for rd in rounds)
    c = {name: combine([f[name] for f in per_round]) for name in per_round[0]}
    table, _ = report(c)
    what = f"medians of {args.rounds} rounds" if args.rounds > 1 else "one round"
    pinned = f" on {cpus} CPU(s)" if cpus else ""
    print(
        f"\n{what}{pinned}, {info.size / MB:,.0f} MB in {info.files:,} files; {load_note(warn_if_busy=False)}\n{table}"
    )
    if floor:
        print(floor_report(c, info.size, floor, median_or_none(rd.floor_cpu_s for rd in rounds)))
    return rounds, c, per_round


def floor_report(c: Figures, size: int, floor_s: float, floor_cpu_s: float | None) -> str:
    """Each tool's restore against ``cp -a`` of the same tree (the floor: no reading, decrypting or
    verifying at all), and what the goal over restic asks of drkit next to that floor."""
    floor_mbps = mb_per_s(size, floor_s)
    cpu = f", {floor_cpu_s:.2f} s CPU" if floor_cpu_s is not None else ""
    lines = [f"restore vs the floor, cp -a of the tree: {floor_s:.2f} s = {floor_mbps:.1f} MB/s{cpu}"]
    for name, f in c.items():
        share, cpu_s = fmt(ratio(f["restore_mbps"], floor_mbps), 2, "x"), fmt(f["restore_cpu_s"], 2)
        lines.append(f"  {name:<6} {fmt(f['restore_mbps'], 1):>8} MB/s = {share} of the floor, {cpu_s} s CPU")
    restic = c["restic"]["restore_mbps"]
    if restic:
        need = 2.0 * restic / floor_mbps
        verdict = "above the floor: unreachable here" if need > 1.0 else "under the floor"
        lines.append(f"  goal >= 2.0x restic = {2.0 * restic:.1f} MB/s = {need:.2f}x the floor ({verdict})")
    return "\n".join(lines)


def run(args: argparse.Namespace, work: Path) -> int:
    print(f"bench/files.py: {machine_summary()}; {load_note()}", flush=True)
    args.borg_exe = _borg.find_borg(args.borg)
    if args.borg_exe:
        print(f"{tool_version([args.borg_exe, '--version'])}; {_borg.SETTINGS}")
    elif args.borg != "none":
        print(_borg.missing_note())
    start_probe = settle_inodes(work, args.settle_above_us, args.settle_max)
    info = build_tree(work / "tree", args.size_mib, args.seed)
    print(
        f"tree: {info.files:,} files, {info.size / MIB:,.0f} MiB "
        f"({', '.join(f'{k} {v / MIB:.0f} MiB' for k, v in info.kinds.items())})",
        flush=True,
    )
    speeds: dict[int, dict[str, dict[str, float | None]]] = {}
    every: list[Round] = []
    for cpus, prefix in cpu_prefixes(args.cpus):
        rounds, c, per_round = run_pinned(args, work, info, cpus, prefix)
        every.extend(rounds)
        speeds[cpus] = {
            "first backup": {name: f["first_mbps"] for name, f in c.items()},
            "restore": {name: f["restore_mbps"] for name, f in c.items()},
        }
    if len(speeds) > 1:
        print(f"\nscaling (goal: drkit's first backup >= 1.8x from 1 to 2 CPUs)\n{scaling_table(speeds)}")
    print(
        f"new-file probe (µs per file): at the start {start_probe:.0f}, before each round's restores "
        f"{', '.join(f'{rd.probe_us:.0f}' for rd in every)} (over {args.settle_above_us:.0f}: both tools' "
        "restores paid for recently deleted inodes)"
    )
    doc = report(c)[1]  # the JSON holds the last CPU count's rounds
    floor = median_or_none(rd.floor_s for rd in rounds)
    if args.json:
        out = {
            "size_bytes": info.size,
            "files": info.files,
            "changed_bytes": rounds[0].changed,
            "figures": doc,
            "copy_floor_s": floor,
            "new_file_probe_us": {"start": start_probe, "before_restores": [rd.probe_us for rd in rounds]},
            "rounds": per_round,
            "verified": [{t.name: t.verified for t in rd.tools} for rd in rounds],
            "machine": machine_summary(),
        }
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 1 if any(t.failed or not t.verified for rd in every for t in rd.tools) else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="drkit-bench-files-", dir=args.workdir))
    try:
        return run(args, work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
