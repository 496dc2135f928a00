#!/usr/bin/env python3
"""Where the wall time of one `drkit backup stdin` goes: start-up, streaming, end (issue 25, 1 -> 2 CPU scaling).

Runs the backup command in a child Python (pinned with taskset when --cpus says so) that notes the time of
each phase boundary, without changing drkit: an import hook wraps a few functions as their modules load.

    spawn                the bench starts the child (taskset + interpreter start-up)
    python               the child's first line ran
    kdf start/end        Argon2id of the passphrase (keys._derive; on a local repository started ahead, in a thread)
    command              the command opens its repository (the backup's own modules are imported)
    opened               Repository.open returned (key verified, config read)
    locked               the lock object is written (on_acquired runs: index load)
    first chunk          a sealing worker starts on the first chunk
    last byte read       the stream's read returned end-of-file
    flush start/end      BlobWriter.flush: last pack, uploads waited for, index written
    snapshot end         the snapshot object is written
    unlocked             the lock object is removed
    atexit               the interpreter's exit handlers run (teardown starts)
    exit                 the bench sees the child end

Prints each boundary's time since spawn and the phases: start-up (spawn -> first chunk), streaming
(first chunk -> last byte read), end (last byte read -> exit), with the child's CPU seconds (user + sys)
and the load average. drkit's bytecode is written first (as bench/stdin.py does); a fresh repository per
run (init untimed); the stream is read once first (page-cache warm).

Run: .venv/bin/python bench/stdin_phases.py STREAM [--cpus 1,2] [--runs 1] [--drkit-python PY]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_prefixes, load_note, precompile_drkit, warm_page_cache

PASSWORD = "drkit-bench-password-not-a-secret"

# Runs in the child: notes times into the file named by DRKIT_PHASES_OUT, then runs the CLI.
CHILD = r"""
import atexit, importlib.abc, json, os, sys, threading, time
marks = [("python", time.time(), time.process_time())]
out = os.environ.pop("DRKIT_PHASES_OUT")
atexit.register(lambda: (mark("atexit"), open(out, "w").write(json.dumps(marks))))
def mark(name, once=False):
    if not (once and any(m[0] == name for m in marks)):
        marks.append((name, time.time(), time.process_time()))
def around(obj, attr, before, after=None):
    orig = getattr(obj, attr)
    def wrapper(*a, **kw):
        if before: mark(before, once=True)
        try:
            return orig(*a, **kw)
        finally:
            if after: mark(after)
    setattr(obj, attr, wrapper)
def keys(m): around(m, "_derive", "kdf start", "kdf end")
def repo(m):
    cls = m.Repository
    orig_open = cls.open.__func__
    def open_(c, *a, **kw):
        try:
            return orig_open(c, *a, **kw)
        finally:
            mark("opened")
    cls.open = classmethod(open_)
    around(cls, "_on_locked", "locked")
def writer(m):
    cls = m.BlobWriter
    around(cls, "_process", "first chunk")
    around(cls, "_seal", "first chunk")
    around(cls, "flush", "flush start", "flush end")
    orig = cls.write_stream
    def write_stream(self, stream, **kw):
        class Watched:
            def readinto(_, view):
                n = stream.readinto(view)
                if n == 0: mark("last byte read", once=True)
                return n
        return orig(self, Watched(), **kw)
    cls.write_stream = write_stream
def snapshots(m): around(m, "save", None, "snapshot end")
def locks(m): around(m.Lock, "release", None, "unlocked")
def backup_stdin(m): around(m, "backup_stdin", "command")
def cmd_backup(m): around(m, "open_session", "command")
PATCHES = {"drkit.repository.keys": keys, "drkit.repository.repo": repo, "drkit.repository.writer": writer,
           "drkit.repository.snapshots": snapshots, "drkit.repository.locks": locks,
           "drkit.ops.backup_stdin": backup_stdin, "drkit.cli.cmd_backup": cmd_backup}
class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in PATCHES: return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"): continue
            spec = finder.find_spec(name, path, target)
            if spec is not None: break
        else:
            return None
        loader_exec = spec.loader.exec_module
        def exec_module(module):
            loader_exec(module)
            PATCHES[name](module)
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, Hook())
from drkit.cli.main import main
sys.argv = ["drkit", *sys.argv[1:]]
main()
"""

ORDER = (
    "python",
    "kdf start",
    "command",
    "kdf end",
    "opened",
    "locked",
    "first chunk",
    "last byte read",
    "flush start",
    "flush end",
    "snapshot end",
    "unlocked",
    "atexit",
    "exit",
)


Marks = dict[str, tuple[float, float]]  # boundary -> (wall seconds since spawn, the child's CPU seconds so far)


def run_once(py: str, prefix: list[str], stream: Path, workdir: Path) -> Marks:
    repo, out = workdir / "repo", workdir / "marks.json"
    shutil.rmtree(repo, ignore_errors=True)
    env = {**os.environ, "DRKIT_PASSWORD": PASSWORD, "XDG_CACHE_HOME": str(workdir / "cache")}
    subprocess.run([py, "-m", "drkit", "init", "--repo", str(repo)], env=env, check=True, capture_output=True)
    argv = [*prefix, py, "-c", CHILD, "backup", "stdin", "--name", "stream", "--repo", str(repo), "--json"]
    with stream.open("rb") as stdin:
        t0 = time.time()
        proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL, env={**env, "DRKIT_PHASES_OUT": str(out)})
        _, status, usage = os.wait4(proc.pid, 0)
        t_exit = time.time()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"drkit exited {os.waitstatus_to_exitcode(status)}")
    marks = {name: (t - t0, cpu) for name, t, cpu in json.loads(out.read_text())}
    marks["exit"] = (t_exit - t0, usage.ru_utime + usage.ru_stime)
    return marks


def report(cpus: int, marks: Marks) -> None:
    wall, cpu = marks["exit"]
    print(f"\n{cpus or 'all'} CPU(s): wall {wall:.2f} s, CPU {cpu:.2f} s (user+sys), {load_note()}")
    print(f"  {'boundary':<16} {'wall':>8} {'CPU':>8}")
    for name in ORDER:
        if name in marks:
            print(f"  {name:<16} {marks[name][0]:7.3f}s {marks[name][1]:7.3f}s")
    if "first chunk" in marks and "last byte read" in marks:
        (w1, c1), (w2, c2) = marks["first chunk"], marks["last byte read"]
        print(
            f"  -> start-up {w1:.3f} s ({c1:.3f} s CPU), streaming {w2 - w1:.3f} s ({c2 - c1:.3f} s CPU), "
            f"end {wall - w2:.3f} s ({cpu - c2:.3f} s CPU)"
        )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stream", type=Path, help="the file backed up as the stream (its bytes are drkit's stdin)")
    p.add_argument("--cpus", default="", metavar="N,M", help="pin to the first N CPUs with taskset, per count")
    p.add_argument("--runs", type=int, default=1, help="runs per CPU count (default 1)")
    p.add_argument("--drkit-python", default=sys.executable, help="drkit's Python (default: this one)")
    p.add_argument("--workdir", type=Path, default=None, help="parent of the temp dir (default: $TMPDIR or /tmp)")
    args = p.parse_args()
    warm_page_cache(args.stream)
    print(precompile_drkit(str(Path(args.drkit_python).with_name("drkit"))))
    workdir = Path(tempfile.mkdtemp(prefix="drkit-phases-", dir=args.workdir))
    try:
        for cpus, prefix in cpu_prefixes(args.cpus):
            for _ in range(args.runs):
                report(cpus, run_once(args.drkit_python, prefix, args.stream, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
