#!/usr/bin/env python3
"""Unchanged re-runs of a files backup: drkit next to restic, CPU seconds and wall time, interleaved (issue 25).

Builds bench/files.py's tree (``build_tree``: ~20k files per GiB) or takes ``--tree``, makes one first backup
into a fresh repository per tool, then ``--rounds`` unchanged re-runs of each, the tools taking turns (the
order reversed on even rounds). After each re-run the snapshots newer than the first are deleted from the
repository directory, so every re-run compares the tree with the same one parent, as bench/files.py's
unchanged re-run does. ``--other DIR`` adds a second drkit: another checkout (a ``git worktree`` of main,
say) run through this interpreter with ``PYTHONPATH=DIR``, so the two are compared on the same load.

On a shared machine the wall time follows the load; each run's CPU seconds (user + system of the tool's
process, ``os.wait4``) are the steadier figure. Prints the median and minimum of each, and drkit's medians
over restic's.

restic: ``restic init --repository-version 2``, ``restic backup --compression auto --host bench --json TREE``.
drkit:  ``drkit init --repo DIR``, ``drkit backup files TREE --repo DIR --json``.

Run: .venv/bin/python bench/rerun.py [--size-mib 1024] [--rounds 8] [--other ../main] [--tree DIR] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CAPTURE, checked, load_note, precompile_drkit, run_synced, tool_version  # noqa: E402
from files import PASSWORD, build_tree  # noqa: E402

DRKIT = str(Path(sys.executable).parent / "drkit")


def _compile_other(checkout: Path) -> None:
    """Bytecode for the other checkout too (precompile_drkit's reason: this environment writes none)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    dirs = [str(checkout / "drkit"), str(checkout / "storage_backends")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs], env=env, capture_output=True, check=False)


class Tool:
    def __init__(self, name: str, repo: Path, env: dict[str, str], backup: list[str], init: list[str]) -> None:
        self.name, self.repo, self.env, self.backup, self.init = name, repo, env, backup, init
        self.first = ""  # the first backup's snapshot file, kept
        self.cpu: list[float] = []
        self.wall: list[float] = []

    def start(self) -> None:
        checked(run_synced(self.init, env=self.env, stdout=CAPTURE), f"{self.name} init")
        checked(run_synced(self.backup, env=self.env, stdout=CAPTURE, timeout=3600), f"{self.name} first backup")
        (self.first,) = os.listdir(self.repo / "snapshots")

    def rerun(self) -> None:
        res = checked(run_synced(self.backup, env=self.env, stdout=CAPTURE, timeout=600), f"{self.name} re-run")
        self.cpu.append(res.cpu_s)
        self.wall.append(res.wall_s)
        for name in os.listdir(self.repo / "snapshots"):
            if name != self.first:
                os.unlink(self.repo / "snapshots" / name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--tree", type=Path, help="back up this tree instead of building one")
    ap.add_argument("--other", type=Path, help="a second drkit checkout, run with PYTHONPATH=OTHER")
    ap.add_argument("--restic", default=shutil.which("restic") or "restic")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="drkit-bench-rerun-", dir=args.workdir))
    env = {**os.environ, "DRKIT_PASSWORD": PASSWORD, "RESTIC_PASSWORD": PASSWORD}
    try:
        tree = args.tree or work / "tree"
        if args.tree is None:
            info = build_tree(tree, args.size_mib, args.seed)
            print(f"tree: {info.files} files, {info.dirs} directories, {info.size / 1e6:.1f} MB", flush=True)
        print(precompile_drkit(DRKIT), flush=True)
        tools = []
        for name, pythonpath in (("drkit", None), ("other", args.other)):
            if name == "other" and pythonpath is None:
                continue
            if pythonpath is not None:
                _compile_other(pythonpath.resolve())
            repo = work / f"repo-{name}"
            tool_env = {**env, "PYTHONPATH": str(pythonpath.resolve())} if pythonpath else env
            backup = [DRKIT, "backup", "files", str(tree), "--repo", str(repo), "--json"]
            tools.append(Tool(name, repo, tool_env, backup, [DRKIT, "init", "--repo", str(repo)]))
        repo = work / "repo-restic"
        base = [args.restic, "--repo", str(repo)]
        backup = [*base, "backup", "--compression", "auto", "--host", "bench", "--json", str(tree)]
        tools.append(Tool("restic", repo, env, backup, [*base, "init", "--repository-version", "2"]))
        print(f"restic: {tool_version([args.restic, 'version'])}; {load_note()}", flush=True)
        for tool in tools:
            tool.start()
        for i in range(args.rounds):
            for tool in tools if i % 2 == 0 else tools[::-1]:
                tool.rerun()
            print(f"round {i + 1}: " + ", ".join(f"{t.name} {t.cpu[-1]:.2f} s CPU" for t in tools), flush=True)
        restic = tools[-1]
        r_cpu, r_wall = statistics.median(restic.cpu), statistics.median(restic.wall)
        for t in tools:
            cpu, wall = statistics.median(t.cpu), statistics.median(t.wall)
            vs = "" if t is restic else f"  = {cpu / r_cpu:.2f}x / {wall / r_wall:.2f}x restic's"
            print(f"{t.name:<7} CPU {cpu:.2f} s (min {min(t.cpu):.2f})  wall {wall:.2f} s (min {min(t.wall):.2f}){vs}")
        print(load_note(warn_if_busy=False))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
