"""SIGKILL loops (issue 10): kill drkit at random moments and prove the repository survives.

``KillLoop(target, workdir, seed).prepare()`` creates a repository with baseline snapshots (a stream and
a file tree, tagged ``baseline``) and measures one unkilled run of each operation. ``run(kills)`` then
repeats: pick an operation — ``backup stdin``, ``backup files``, ``forget --keep-last N --keep-tag
baseline`` or ``prune`` — start it as a subprocess, SIGKILL it after a seeded random delay spread over
that operation's measured duration, and verify:

- ``drkit snapshots`` lists every snapshot that existed before, except those the forget was allowed to
  remove, and no snapshot other than the killed backup's own;
- ``drkit check --read-data`` exits 0;
- every listed snapshot restores byte-identical to the data it was taken of (``restore ID --to FILE``,
  ``restore files ID --target DIR``).

The killed process leaves its lock behind. No ``drkit unlock`` runs between kills: drkit must treat a
lock of a dead process on this host as stale by itself. At the end ``drkit unlock`` (stale locks only)
removes them, and one more backup must succeed.

Counted: kills (processes still running at the signal; runs that finished first are counted apart), corrupt
(a failed check or listing, an unexpected snapshot), lost (a snapshot that must exist is missing or
restores differently), failed (an operation that was not killed and still failed).
"""

from __future__ import annotations

import random
import re
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from faultkit import (
    RestoreResult,
    Target,
    error_text,
    label_of,
    list_snapshots,
    must,
    restore_snapshot,
    write_stream,
    write_tree,
)

OPS = ("backup-stdin", "backup-files", "forget", "prune")
BASELINE = "baseline"


@dataclass
class KillReport:
    backend: str
    kills: int = 0
    completed: int = 0  # runs that finished before their signal
    by_op: Counter[str] = field(default_factory=Counter)
    corrupt: int = 0
    lost: int = 0
    failed: int = 0
    stale_locks_removed: int = 0
    snapshots_verified: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.corrupt or self.lost or self.failed)

    def summary(self) -> str:
        ops = ", ".join(f"{op} {self.by_op[op]}" for op in OPS)
        return (
            f"{self.backend}: {self.kills} kills, {self.corrupt} corrupt, {self.lost} lost "
            f"({ops}; {self.completed} runs finished before the signal, {self.failed} failed; "
            f"{self.snapshots_verified} snapshot restores verified; "
            f"{self.stale_locks_removed} stale locks left for drkit unlock; {self.seconds:.0f} s)"
        )


@dataclass
class _Step:
    op: str
    label: str
    args: list[str]
    stdin: Path | None = None


class KillLoop:
    """One repository, killed over and over; see the module docstring."""

    def __init__(
        self, target: Target, workdir: Path, *, seed: int = 1, stream_mib: int = 8, keep_last: int = 1
    ) -> None:
        self.target = target
        self.work = workdir
        self.seed = seed
        self.stream_mib = stream_mib
        self.keep_last = keep_last
        self.rng = random.Random(seed)
        self.expected: dict[str, str] = {}  # label → sha256 of the stream or tree digest
        self.listing: dict[str, dict[str, Any]] = {}
        self.durations: dict[str, float] = {}
        self.startup = 0.0
        self.report = KillReport(target.name)
        self._count = 0
        for sub in ("scratch", "tree"):
            (self.work / sub).mkdir(parents=True, exist_ok=True)

    # -- setup -----------------------------------------------------------------------------------
    def prepare(self) -> None:
        """init, baseline snapshots, and one unkilled, verified run of each operation (its duration)."""
        must(self.target.run("init", "--pack-size-mib", "1"), "drkit init")
        for op in ("backup-stdin", "backup-files"):
            step = self._step(op, tags=[BASELINE])
            must(self.target.run(*step.args, stdin_file=step.stdin), "baseline backup")
        started = time.monotonic()
        self.listing = list_snapshots(self.target)
        self.startup = time.monotonic() - started
        for op in OPS:  # check and restores only after the last one: they are slow on S3
            self.durations[op] = self._run_unkilled(self._step(op), deep=op == OPS[-1])

    def _run_unkilled(self, step: _Step, *, deep: bool = True) -> float:
        pre = dict(self.listing)
        started = time.monotonic()
        proc = self.target.run(*step.args, stdin_file=step.stdin)
        elapsed = time.monotonic() - started
        must(proc, " ".join(step.args[:2]))
        self._verify(step, pre, self._forgettable(pre) if step.op == "forget" else set(), deep=deep)
        return elapsed

    def _step(self, op: str, tags: tuple[str, ...] | list[str] = ()) -> _Step:
        self._count += 1
        label = f"{op.split('-')[-1]}-{self._count}"
        tag_args = [a for t in (label, *tags) for a in ("--tag", t)]
        if op == "backup-stdin":
            stream = self.work / "stream.bin"
            self.expected[label] = write_stream(stream, self.seed, label, self.stream_mib)
            return _Step(op, label, ["backup", "stdin", "--name", "stream", "--quiet", *tag_args], stream)
        if op == "backup-files":
            self.expected[label] = write_tree(self.work / "tree", self.seed, label)
            return _Step(op, label, ["backup", "files", str(self.work / "tree"), "--quiet", *tag_args])
        if op == "forget":
            return _Step(op, label, ["forget", "--keep-last", str(self.keep_last), "--keep-tag", BASELINE])
        return _Step(op, label, ["prune", "--orphan-age", "0"])  # sequential runs: every unindexed pack is dead

    # -- the loop --------------------------------------------------------------------------------
    def run(self, kills: int) -> KillReport:
        """Kill operations until ``kills`` processes were killed (at most 10x as many attempts: under load an
        operation often finishes before its delay, drawn up to its average duration so far, runs out; with 3x, 21
        of 30 attempts once finished first and the loop ended at 9 kills of 10)."""
        started = time.monotonic()
        attempts = 0
        while self.report.kills < kills and attempts < 10 * kills:
            attempts += 1
            self._kill_once(self._step(OPS[self.rng.randrange(len(OPS))]))
        self._finish()
        self.report.seconds = time.monotonic() - started
        return self.report

    def _kill_once(self, step: _Step) -> None:
        pre = dict(self.listing)
        forgettable = self._forgettable(pre) if step.op == "forget" else set()
        hi = self.durations[step.op]
        lo = min(0.5 * self.startup, 0.5 * hi)
        delay = self.rng.uniform(lo, hi)
        started = time.monotonic()
        proc = self.target.spawn(*step.args, stdin_file=step.stdin)
        time.sleep(delay)
        proc.kill()  # unless it has exited already
        code = proc.wait()
        proc.output()
        if code == -signal.SIGKILL:
            self.report.kills += 1
            self.report.by_op[step.op] += 1
        else:
            self.report.completed += 1
            self.durations[step.op] = (self.durations[step.op] + time.monotonic() - started) / 2
            if code != 0:
                self.report.failed += 1
                self.report.problems.append(f"{step.op} (not killed) exited {code}")
        self._verify(step, pre, forgettable)

    def _forgettable(self, snaps: dict[str, dict[str, Any]]) -> set[str]:
        """What ``forget --keep-last N --keep-tag baseline`` may remove: per (host, kind, name) group,
        all but the N newest, never a baseline."""
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for s in snaps.values():
            groups.setdefault((s["host"], s["source_kind"], s["source_name"]), []).append(s)
        out: set[str] = set()
        for members in groups.values():
            members.sort(key=lambda s: datetime.fromisoformat(s["time"]), reverse=True)
            out.update(s["id"] for s in members[self.keep_last :] if BASELINE not in s.get("tags", []))
        return out

    # -- verification ----------------------------------------------------------------------------
    def _verify(self, step: _Step, pre: dict[str, dict[str, Any]], forgettable: set[str], *, deep: bool = True) -> None:
        """The listing against ``pre``; with ``deep`` also check --read-data and a restore of each snapshot."""
        try:
            post = list_snapshots(self.target)
        except RuntimeError as exc:
            self._problem("corrupt", f"after {step.op}: {exc}")
            return
        for sid in sorted(set(pre) - set(post) - forgettable):
            self._problem("lost", f"after {step.op}: snapshot {sid[:8]} ({pre[sid]['tags']}) is gone")
        for sid in sorted(set(post) - set(pre)):
            if not step.op.startswith("backup") or step.label not in post[sid].get("tags", []):
                self._problem("corrupt", f"after {step.op}: unexpected snapshot {sid[:8]} {post[sid]['tags']}")
        self.listing = post
        if not deep:
            return
        with ThreadPoolExecutor(3) as pool:
            check = pool.submit(self.target.run, "check", "--read-data")
            restores = {
                sid: pool.submit(restore_snapshot, self.target, snap, self.work / "scratch")
                for sid, snap in post.items()
            }
            if check.result().returncode != 0:
                self._problem("corrupt", f"after {step.op}: check failed: {error_text(check.result())}")
            for sid, fut in restores.items():
                self._compare(step, post[sid], fut.result())

    def _compare(self, step: _Step, snap: dict[str, Any], result: RestoreResult) -> None:
        self.report.snapshots_verified += 1
        label = label_of(snap, self.expected)
        if label is None or result.digest != self.expected[label]:
            why = f"exit {result.code}: {result.error}" if result.code else "different content"
            self._problem("lost", f"after {step.op}: snapshot {snap['id'][:8]} ({label}) does not restore: {why}")

    def _problem(self, kind: str, text: str) -> None:
        setattr(self.report, kind, getattr(self.report, kind) + 1)
        self.report.problems.append(text)

    def _finish(self) -> None:
        """drkit unlock removes what the killed runs left; then a normal backup must still work."""
        proc = self.target.run("unlock")
        if proc.returncode != 0:
            self._problem("failed", f"drkit unlock exited {proc.returncode}: {error_text(proc)}")
        found = re.search(rb"(\d+) locks removed", proc.stdout)
        self.report.stale_locks_removed = int(found.group(1)) if found else 0
        try:
            self._run_unkilled(self._step("backup-stdin"))
        except RuntimeError as exc:
            self._problem("failed", f"backup after the loop: {exc}")
