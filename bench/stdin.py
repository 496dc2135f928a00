#!/usr/bin/env python3
"""Backup of one big stream from stdin: drkit next to `restic backup --stdin` and Borg 1.4, in the same run,
as ratios.

Generates a deterministic mixed stream once (45 % log-like text, 35 % random bytes, 20 % one repeated
1 MiB block, interleaved in segments of 2-6 MiB), reads it once so it is page-cache warm for everybody,
then per round, with fresh repositories and the tools interleaved step by step:

    init (untimed figures)  ->  first backup  ->  unchanged re-run  ->  restore to /dev/null

drkit's bytecode is written first (untimed), as an installed package has it: run from an editable checkout
with PYTHONDONTWRITEBYTECODE=1, every drkit command compiled its modules again (bench/_common.py).

restic: `restic backup --stdin` into a repository v2 (compression auto), restore = `restic dump`.
drkit:  `drkit backup stdin --json`, restore = `drkit restore latest --to -`.
Borg:   `borg create --compression zstd,3 REPO::bN -` into a repokey-blake2 repository, restore =
        `borg extract --stdout` (bench/_borg.py: where it comes from, its settings; left out when absent).

Prints wall-clock throughput (decimal MB/s of stream bytes), peak RSS (ru_maxrss of the tool's process,
from os.wait4) and repository size, with the drkit/restic ratio and the goals of the issue. With several
rounds the throughputs and sizes are medians and peak RSS is the maximum over all runs.

Run: .venv/bin/python bench/stdin.py [--size-mib 2048] [--rounds 1] [--cpus 1,2] [--only both|restic|drkit|borg]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _borg
from _common import (
    CAPTURE,
    MB,
    MIB,
    RunResult,
    StreamInfo,
    cpu_prefixes,
    dir_size,
    fmt,
    format_table,
    load_note,
    machine_summary,
    mb_per_s,
    median_or_none,
    new_hasher,
    precompile_drkit,
    ratio,
    run_measured,
    scaling_table,
    tool_version,
    warm_page_cache,
    write_mixed_stream,
)

PASSWORD = "drkit-bench-password-not-a-secret"
STEPS = ("backup_first", "backup_rerun", "restore")
STEP_LABELS = {
    "init": "init",
    "backup_first": "first backup",
    "backup_rerun": "unchanged re-run",
    "restore": "restore",
    "verify": "verify restore",
}
RSS_GOAL_BYTES = 300 * MB


# --------------------------------------------------------------------------------------------------
# The two tools
# --------------------------------------------------------------------------------------------------


@dataclass
class Tool:
    name: str
    exe: str
    init: Callable[[str, Path], list[str]]
    backup: Callable[[str, Path], list[str]]
    restore: Callable[[str, Path], list[str]]
    env_extra: Callable[[Path], dict[str, str]]

    def env(self, cache_dir: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env_extra(cache_dir))
        return env


def restic_tool(exe: str) -> Tool:
    return Tool(
        name="restic",
        exe=exe,
        init=lambda x, repo: [x, "init", "--repo", str(repo), "--repository-version", "2"],
        backup=lambda x, repo: [
            x,
            "backup",
            "--repo",
            str(repo),
            "--compression",
            "auto",
            "--json",
            "--host",
            "bench",
            "--stdin",
            "--stdin-filename",
            "stream.bin",
        ],
        restore=lambda x, repo: [x, "dump", "--repo", str(repo), "latest", "/stream.bin"],
        env_extra=lambda cache: {
            "RESTIC_PASSWORD": PASSWORD,
            "RESTIC_CACHE_DIR": str(cache),
            "XDG_CACHE_HOME": str(cache),
        },
    )


def borg_tool(exe: str) -> Tool:
    backup, restore = _borg.stdin_argvs(exe)
    return Tool(
        name="borg",
        exe=exe,
        init=_borg.init_argv,
        backup=backup,
        restore=restore,
        env_extra=lambda cache: _borg.env(cache, PASSWORD),
    )


def drkit_tool(exe: str) -> Tool:
    return Tool(
        name="drkit",
        exe=exe,
        init=lambda x, repo: [x, "init", "--repo", str(repo)],
        backup=lambda x, repo: [x, "backup", "stdin", "--name", "stream", "--repo", str(repo), "--json"],
        restore=lambda x, repo: [x, "restore", "latest", "--repo", str(repo), "--to", "-"],
        env_extra=lambda cache: {"DRKIT_PASSWORD": PASSWORD, "XDG_CACHE_HOME": str(cache)},
    )


# --------------------------------------------------------------------------------------------------
# One round
# --------------------------------------------------------------------------------------------------


@dataclass
class ToolRound:
    """One tool's results in one round."""

    repo: Path
    cache: Path
    runs: dict[str, RunResult] = field(default_factory=dict)
    failed: str | None = None
    repo_bytes: int | None = None
    verified: bool | None = None

    def mbps(self, step: str, nbytes: int) -> float | None:
        run = self.runs.get(step)
        return mb_per_s(nbytes, run.wall_s) if run is not None and run.ok else None

    def cpu(self, step: str) -> float | None:
        run = self.runs.get(step)
        return run.cpu_s if run is not None and run.ok else None

    def peak_rss(self) -> int | None:
        rss = [r.maxrss_bytes for s, r in self.runs.items() if s in STEPS and r.ok]
        return max(rss) if rss else None


@dataclass
class Bench:
    args: argparse.Namespace
    tools: list[Tool]
    stream: StreamInfo
    workdir: Path
    failures: list[str] = field(default_factory=list)
    prefix: list[str] = field(default_factory=list)  # taskset -c ... with --cpus
    label: str = ""  # the CPU count's part of the round directories' names (--keep keeps each)

    def log(self, msg: str) -> None:
        print(msg, flush=True)


def step_argv(tool: Tool, step: str, repo: Path) -> list[str]:
    if step == "init":
        return tool.init(tool.exe, repo)
    if step in ("backup_first", "backup_rerun"):
        return tool.backup(tool.exe, repo)
    return tool.restore(tool.exe, repo)


def run_step(bench: Bench, tool: Tool, tr: ToolRound, step: str, round_no: int) -> None:
    if tr.failed:
        return
    argv = [*bench.prefix, *step_argv(tool, step, tr.repo)]
    stdin = bench.stream.path if step.startswith("backup") else None
    stdout = CAPTURE if step != "restore" else None
    res = run_measured(argv, stdin=stdin, stdout=stdout, env=tool.env(tr.cache), timeout=bench.args.timeout)
    tr.runs[step] = res
    label = f"  round {round_no}  {tool.name:<6}  {STEP_LABELS[step]:<17}"
    if res.ok:
        speed = "" if step == "init" else f"{mb_per_s(bench.stream.size, res.wall_s):9.1f} MB/s"
        bench.log(
            f"{label}{res.wall_s:8.2f} s {speed:>14}  {res.maxrss_bytes / MIB:7.1f} MiB peak RSS"
            f"  {res.cpu_s:7.2f} s CPU"
        )
        return
    tr.failed = f"{STEP_LABELS[step]}: {res.describe_failure()}"
    bench.failures.append(f"{tool.name} (round {round_no}) {tr.failed}")
    bench.log(f"{label}FAILED: {res.describe_failure()}")
    tail = res.stderr_tail() or "(no stderr)"
    bench.log("\n".join(f"      | {ln}" for ln in tail.splitlines()))
    if tool.name == "drkit":
        bench.log("      (skipping drkit's remaining steps this round; restic's figures still follow)")


def verify_restore(bench: Bench, tool: Tool, tr: ToolRound, round_no: int) -> None:
    """Untimed: restore once more through a hash and compare with the stream's digest."""
    if tr.failed:
        return
    hasher, _ = new_hasher()
    count = [0]

    def sink(chunk: bytes) -> None:
        hasher.update(chunk)
        count[0] += len(chunk)

    res = run_measured(tool.restore(tool.exe, tr.repo), stdout=sink, env=tool.env(tr.cache), timeout=bench.args.timeout)
    tr.verified = res.ok and count[0] == bench.stream.size and hasher.hexdigest() == bench.stream.digest
    if not tr.verified:
        why = (
            res.describe_failure()
            if not res.ok
            else (
                f"restored {count[0]:,} bytes, digest {hasher.hexdigest()[:16]}..., expected "
                f"{bench.stream.size:,} bytes, digest {bench.stream.digest[:16]}..."
            )
        )
        bench.failures.append(f"{tool.name} (round {round_no}) restore does not match the stream: {why}")
        bench.log(f"  round {round_no}  {tool.name:<6}  restore MISMATCH: {why}")
    else:
        bench.log(f"  round {round_no}  {tool.name:<6}  restore verified ({bench.stream.digest_alg} matches)")


def run_round(bench: Bench, round_no: int) -> dict[str, ToolRound]:
    rdir = bench.workdir / f"round-{round_no}{bench.label}"
    order = bench.tools if round_no % 2 == 1 else list(reversed(bench.tools))
    results: dict[str, ToolRound] = {}
    for tool in order:
        (rdir / f"{tool.name}-cache").mkdir(parents=True)
        results[tool.name] = ToolRound(rdir / f"{tool.name}-repo", rdir / f"{tool.name}-cache")
    for step in ("init", *STEPS):
        for tool in order:
            run_step(bench, tool, results[tool.name], step, round_no)
    for tool in order:
        tr = results[tool.name]
        if tr.repo.exists():
            tr.repo_bytes = dir_size(tr.repo)
        if bench.args.verify and round_no == 1:
            verify_restore(bench, tool, tr, round_no)
    if not bench.args.keep:
        shutil.rmtree(rdir, ignore_errors=True)
    return results


# --------------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    key: str
    values: dict[str, float | None]
    goal: str = "-"
    check: Callable[[dict[str, float | None]], bool | None] = lambda v: None

    def ratio(self, peer: str = "restic") -> float | None:
        return ratio(self.values.get("drkit"), self.values.get(peer))

    def result(self) -> str:
        ok = self.check(self.values)
        return {True: "PASS", False: "MISS", None: "-" if self.goal == "-" else "n/a"}[ok]


def _ratio_goal(goal: float) -> Callable[[dict[str, float | None]], bool | None]:
    def check(v: dict[str, float | None]) -> bool | None:
        r = ratio(v.get("drkit"), v.get("restic"))
        return None if r is None else r >= goal

    return check


def _rss_goal(v: dict[str, float | None]) -> bool | None:
    d = v.get("drkit")
    return None if d is None else d * MIB < RSS_GOAL_BYTES


def summarize(bench: Bench, rounds: list[dict[str, ToolRound]]) -> list[Row]:
    names = [t.name for t in bench.tools]
    size = bench.stream.size

    def med(fn: Callable[[ToolRound], float | None]) -> dict[str, float | None]:
        return {n: median_or_none(fn(r[n]) for r in rounds) for n in names}

    def peak(n: str) -> float | None:
        vals = [r[n].peak_rss() for r in rounds if r[n].peak_rss() is not None]
        return max(vals) / MIB if vals else None

    return [
        Row(
            "first backup, MB/s",
            "backup_first",
            med(lambda tr: tr.mbps("backup_first", size)),
            ">= 2.5x",
            _ratio_goal(2.5),
        ),
        Row(
            "unchanged re-run, MB/s",
            "backup_rerun",
            med(lambda tr: tr.mbps("backup_rerun", size)),
            ">= 2.0x",
            _ratio_goal(2.0),
        ),
        Row("restore, MB/s", "restore", med(lambda tr: tr.mbps("restore", size)), ">= 1.5x", _ratio_goal(1.5)),
        Row("peak RSS, MiB", "peak_rss", {n: peak(n) for n in names}, "drkit < 300 MB", _rss_goal),
        # CPU seconds (user + system) depend far less on the machine's other load than wall times do
        Row("first backup, CPU s", "backup_first_cpu", med(lambda tr: tr.cpu("backup_first"))),
        Row("restore, CPU s", "restore_cpu", med(lambda tr: tr.cpu("restore"))),
        Row(
            "repository size, MiB",
            "repo_size",
            med(lambda tr: None if tr.repo_bytes is None or tr.failed else tr.repo_bytes / MIB),
        ),
    ]


def print_table(rows: list[Row], names: list[str]) -> None:
    """drkit, restic and (when it ran) Borg side by side, with drkit's ratio to each; goals are over restic."""
    borg = ["borg", "drkit/borg"] if "borg" in names else []
    headers = ["", "drkit", "restic", *borg[:1], "drkit/restic", *borg[1:], "goal (vs restic)", "result"]
    body = []
    for r in rows:
        extra = [fmt(r.values.get("borg")), fmt(r.ratio("borg"), 2, "x")] if borg else []
        body.append(
            [
                r.label,
                fmt(r.values.get("drkit")),
                fmt(r.values.get("restic")),
                *extra[:1],
                fmt(r.ratio(), 2, "x"),
                *extra[1:],
                r.goal,
                r.result(),
            ]
        )
    print(format_table(headers, body))


def parse_output(stdout: bytes) -> object:
    """A backup's --json output: the whole of it if it is one JSON document, else its last JSON line
    (restic prints status lines, then its summary), else the tail as text."""
    text = stdout.decode(errors="replace").strip()
    for candidate in (text, text.splitlines()[-1] if text else ""):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return text[-2000:]


def round_json(bench: Bench, rounds: list[dict[str, ToolRound]]) -> list[dict]:
    out = []
    for rd in rounds:
        entry = {}
        for name, tr in rd.items():
            steps = {}
            for step, res in tr.runs.items():
                steps[step] = {
                    "argv": res.argv,
                    "returncode": res.returncode,
                    "wall_s": round(res.wall_s, 4),
                    "cpu_s": round(res.cpu_s, 3),
                    "mb_s": None if step == "init" else round(mb_per_s(bench.stream.size, res.wall_s), 2),
                    "maxrss_bytes": res.maxrss_bytes,
                    "ok": res.ok,
                }
                if res.stdout and step.startswith("backup"):
                    steps[step]["output"] = parse_output(res.stdout)
            entry[name] = {
                "steps": steps,
                "repo_bytes": tr.repo_bytes,
                "failed": tr.failed,
                "restore_verified": tr.verified,
            }
        out.append(entry)
    return out


def write_json(bench: Bench, rows: list[Row], rounds: list[dict[str, ToolRound]], header: dict) -> None:
    doc = {
        **header,
        "stream": {
            "bytes": bench.stream.size,
            "digest": bench.stream.digest,
            "digest_alg": bench.stream.digest_alg,
            "composition_mib": bench.stream.composition,
            "segments": bench.stream.segments,
            "seed": bench.args.seed,
        },
        "summary": {
            r.key: {
                "label": r.label,
                **r.values,
                "ratio": r.ratio(),
                "ratio_borg": r.ratio("borg"),
                "goal": r.goal,
                "result": r.result(),
            }
            for r in rows
        },
        "rounds": round_json(bench, rounds),
        "failures": bench.failures,
    }
    Path(bench.args.json).write_text(json.dumps(doc, indent=2) + "\n")
    print(f"figures written to {bench.args.json}")


# --------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--size-mib", type=int, default=2048, help="stream size in MiB (default 2048)")
    p.add_argument("--rounds", type=int, default=1, help="rounds with fresh repositories; medians (default 1)")
    p.add_argument(
        "--only",
        choices=("both", "restic", "drkit", "borg"),
        default="both",
        help="which tool to run alone (default both: drkit, restic and Borg when installed)",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="parent of the temp dir holding stream and repositories (default: $TMPDIR or /tmp)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temp dir (stream, repositories, caches)")
    p.add_argument("--json", metavar="FILE", default=None, help="also write all figures to FILE as JSON")
    p.add_argument("--seed", type=int, default=1, help="seed of the generated stream (default 1)")
    p.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="skip the untimed check that each tool's restore reproduces the stream (round 1)",
    )
    p.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed, too")
    p.add_argument("--timeout", type=float, default=3600.0, help="per-command timeout in seconds (default 3600)")
    p.add_argument("--restic", default=shutil.which("restic") or "/usr/bin/restic", help="restic executable")
    p.add_argument(
        "--cpus",
        default="",
        metavar="N,M",
        help="run everything once per CPU count, pinned with taskset to the first N CPUs, and "
        "print how the speeds scale (e.g. 1,2; default: no pinning)",
    )
    p.add_argument(
        "--borg",
        default="",
        metavar="PATH|none",
        help="Borg 1.4 executable (default: the bench's venv, bench/_borg.py, else borg on PATH; none: leave Borg out)",
    )
    p.add_argument(
        "--drkit",
        default=str(Path(sys.executable).with_name("drkit")),
        help="drkit executable (default: the one next to this Python)",
    )
    args = p.parse_args(argv)
    if args.size_mib < 1 or args.rounds < 1:
        p.error("--size-mib and --rounds must be >= 1")
    return args


def print_header(args: argparse.Namespace, tools: list[Tool]) -> dict:
    header = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "machine": machine_summary(),
        "python": sys.version.split()[0],
        "versions": {t.name: tool_version([t.exe, "version" if t.name == "restic" else "--version"]) for t in tools},
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    print(f"command: {header['command']}")
    print(f"machine: {header['machine']}, Python {header['python']}; started {header['started']}, {load_note()}")
    for name, version in header["versions"].items():
        print(f"{name}: {version}")
    if any(t.name == "borg" for t in tools):
        print(_borg.SETTINGS)
    for tool in tools:
        if tool.name == "drkit":
            print(precompile_drkit(tool.exe))
    return header


def prepare_stream(args: argparse.Namespace, workdir: Path) -> StreamInfo:
    print(f"generating {args.size_mib} MiB mixed stream (seed {args.seed}) in {workdir} ...", flush=True)
    info = write_mixed_stream(workdir / "stream.bin", args.size_mib, args.seed)
    comp = ", ".join(f"{k} {v} MiB" for k, v in info.composition.items())
    print(
        f"  {info.size:,} bytes in {info.gen_seconds:.1f} s: {comp}; {info.segments} segments; "
        f"{info.digest_alg} {info.digest[:16]}..."
    )
    warm = warm_page_cache(info.path)
    print(f"  read once in {warm:.2f} s: the stream is page-cache warm for every run (caches are not dropped)")
    return info


def exit_code(bench: Bench, rows: list[Row]) -> int:
    if bench.failures:
        print("\nfailures:")
        for f in bench.failures:
            print(f"  - {f}")
        return 1
    if bench.args.strict and any(r.result() in ("MISS", "n/a") for r in rows if r.goal != "-"):
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    borg = _borg.find_borg(args.borg)
    if borg is None and args.only in ("both", "borg") and args.borg != "none":
        print(_borg.missing_note())
    peers = [restic_tool(args.restic), drkit_tool(args.drkit), *([borg_tool(borg)] if borg else [])]
    tools = [t for t in peers if args.only in ("both", t.name)]
    header = print_header(args, tools)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="drkit-bench-stdin-", dir=args.workdir))
    try:
        bench = Bench(args, tools, prepare_stream(args, workdir), workdir)
        order = " -> ".join(t.name for t in tools)
        speeds: dict[int, dict[str, dict[str, float | None]]] = {}
        for cpus, prefix in cpu_prefixes(args.cpus):
            bench.prefix, bench.label = prefix, f"-{cpus}cpu" if cpus else ""
            pinned = f" on {cpus} CPU(s) ({' '.join(prefix)})" if cpus else ""
            print(f"\n{args.rounds} round(s){pinned}, fresh repositories each; order {order}, reversed on even rounds")
            rounds = [run_round(bench, n) for n in range(1, args.rounds + 1)]
            rows = summarize(bench, rounds)
            what = "medians of" if args.rounds > 1 else "one round of"
            print(
                f"\n{what} {args.rounds}{pinned}, {bench.stream.size / MB:,.0f} MB stream, MB = 10^6 bytes, "
                f"throughput = stream bytes / wall seconds"
            )
            print_table(rows, [t.name for t in tools])
            print(f"at the end: {load_note(warn_if_busy=False)} (this bench's own load included)")
            speeds[cpus] = {r.label: r.values for r in rows if r.label.endswith("MB/s")}
        if len(speeds) > 1:
            print(f"\nscaling (goal: drkit's first backup >= 1.8x from 1 to 2 CPUs)\n{scaling_table(speeds)}")
        if args.json:
            write_json(bench, rows, rounds, header)
        return exit_code(bench, rows)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
