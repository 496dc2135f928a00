"""Backups while forget and prune run (issue 10): the engine of tests/faults/test_concurrent_prune.py.

``PruneRace(target, workdir, seed).run(rounds)`` starts, at seeded random moments, in separate drkit
processes:

- a stream worker: ``backup stdin`` of streams that share data with the stream three before (whose
  snapshot a concurrent ``forget --keep-last 2`` removes about then, and whose packs a prune may just
  have marked: the backup deduplicates into them);
- a files worker: ``backup files`` of a tree whose unchanged files reuse the parent snapshot's content
  lists (the parent may be forgotten while the backup runs);
- a maintenance worker: ``forget --keep-last 2``, now and then ``forget --source files --keep-tag none``
  (every files snapshot, the running backup's parent included), then ``prune`` (grace 0 or a few
  seconds, orphan age 0, a small clock-skew allowance: one host);
- a second prune worker, whose runs overlap the first's (one of the two gets exit 11: maintenance
  locks exclude each other).

Backups must never fail; forget and prune only with exit 11 (lock busy). Afterwards: ``check
--read-data`` exits 0 and every snapshot listed restores byte-identical; then one more ``prune --grace
0`` (no other process left) settles every mark, and the same checks pass again. ``RaceReport`` counts
what happened, the packs marked, deleted and rescued included.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faultkit import MIB, Target, error_text, label_of, list_snapshots, must, restore_snapshot, tree_digest, write_tree

KEEP_LAST = 2
SKEW = "0.5"  # one host, one clock: the allowance only covers a put in flight


def write_chained_stream(path: Path, seed: int, n: int, mib: int) -> str:
    """Stream ``n``: a part shared by every stream, stream ``n - 3``'s own data, and its own data.
    Returns its sha256."""
    import hashlib

    def part(k: int) -> bytes:
        return random.Random(f"{seed}:own:{k}").randbytes(mib // 2 * MIB)

    body = random.Random(f"{seed}:common").randbytes(MIB) + (part(n - 3) if n >= 3 else b"") + part(n)
    path.write_bytes(body)
    return hashlib.sha256(body).hexdigest()


@dataclass
class RaceReport:
    backend: str
    runs: Counter[str] = field(default_factory=Counter)  # op → completed runs
    busy: int = 0  # forget/prune refused with exit 11 (another maintenance lock)
    failed: list[str] = field(default_factory=list)
    marked: int = 0
    deleted: int = 0
    rescued: int = 0
    waiting: int = 0  # prune runs that left a mark waiting for a lock or the grace
    verified: int = 0  # snapshot restores compared
    corrupt: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.failed or self.corrupt)

    def summary(self) -> str:
        ops = ", ".join(f"{op} {n}" for op, n in sorted(self.runs.items()))
        return (
            f"{self.backend}: {ops}; {self.busy} maintenance runs found the lock busy; packs marked "
            f"{self.marked}, deleted {self.deleted}, rescued {self.rescued}; {self.waiting} prunes left "
            f"marks waiting; {self.verified} restores verified, {len(self.corrupt)} missing or corrupt, "
            f"{len(self.failed)} failed runs; {self.seconds:.0f} s"
        )


class PruneRace:
    def __init__(self, target: Target, workdir: Path, *, seed: int = 1, stream_mib: int = 6) -> None:
        self.target, self.work, self.seed, self.stream_mib = target, workdir, seed, stream_mib
        self.report = RaceReport(target.name)
        self.expected: dict[str, str] = {}  # label → digest
        self.newest: dict[str, list[str]] = {"stdin": [], "files": []}  # labels in backup order
        self.started: dict[str, float] = {}  # label → when its backup started
        self.wiped = -1.0  # when the last forget of every files snapshot ended
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        for sub in ("scratch", "tree", "streams"):
            (workdir / sub).mkdir(parents=True, exist_ok=True)

    def run(self, rounds: int) -> RaceReport:
        started = time.monotonic()
        must(self.target.run("init", "--pack-size-mib", "1"), "drkit init")
        workers = [
            threading.Thread(target=self._guard, args=(fn, n), name=name)
            for name, fn, n in (
                ("stdin", self._stream_worker, rounds),
                ("files", self._files_worker, rounds),
                ("maintenance", self._maintenance_worker, 0),
                ("prune", self._prune_worker, 0),
            )
        ]
        for w in workers:
            w.start()
        for w in workers[:2]:
            w.join()
        self._stop.set()
        for w in workers[2:]:
            w.join()
        self._verify("after the race")
        self._prune(["--grace", "0"], final=True)
        self._verify("after the final prune")
        self.report.seconds = time.monotonic() - started
        return self.report

    def _guard(self, fn: Callable[[random.Random, int], None], rounds: int) -> None:
        rng = random.Random(f"{self.seed}:{threading.current_thread().name}")
        try:
            fn(rng, rounds)
        except Exception as exc:  # noqa: BLE001 - reported, so the other workers still finish
            self.report.failed.append(f"{threading.current_thread().name}: {exc}")

    # -- workers -----------------------------------------------------------------------------------
    def _stream_worker(self, rng: random.Random, rounds: int) -> None:
        for n in range(rounds):
            time.sleep(rng.uniform(0.0, 1.0))
            label = f"s{n}"
            path = self.work / "streams" / f"{label}.bin"
            self.expected[label] = write_chained_stream(path, self.seed, n, self.stream_mib)
            self._backup("stdin", label, ["backup", "stdin", "--name", "chain", "--quiet", "--tag", label], path)
            path.unlink()

    def _files_worker(self, rng: random.Random, rounds: int) -> None:
        for n in range(rounds):
            time.sleep(rng.uniform(0.0, 1.0))
            label = f"f{n}"
            self.expected[label] = write_tree(self.work / "tree", self.seed, label, files=24)
            self._backup("files", label, ["backup", "files", str(self.work / "tree"), "--quiet", "--tag", label])

    def _backup(self, group: str, label: str, args: list[str], stdin: Path | None = None) -> None:
        self.started[label] = time.monotonic()
        proc = self.target.run(*args, stdin_file=stdin)
        if proc.returncode != 0:
            self.report.failed.append(f"backup {label} exited {proc.returncode}: {error_text(proc)}")
            return
        with self._mutex:
            self.report.runs[f"backup {group}"] += 1
            self.newest[group].append(label)

    def _maintenance_worker(self, rng: random.Random, _: int) -> None:
        while not self._stop.is_set():
            time.sleep(rng.uniform(0.2, 1.5))
            wipe = rng.random() < 0.25
            args = ["--source", "files", "--keep-tag", "none"] if wipe else ["--keep-last", str(KEEP_LAST)]
            proc = self.target.run("forget", *args)
            if self._count("forget", proc.returncode, error_text(proc)) and wipe:
                self.wiped = time.monotonic()
            time.sleep(rng.uniform(0.0, 0.8))
            self._prune(["--grace", rng.choice(["0", "0", "2"])])

    def _prune_worker(self, rng: random.Random, _: int) -> None:
        while not self._stop.is_set():
            time.sleep(rng.uniform(1.0, 3.0))
            self._prune(["--grace", "1"])

    def _prune(self, extra: list[str], *, final: bool = False) -> None:
        proc = self.target.run("prune", "--json", "--orphan-age", "0", "--clock-skew", SKEW, *extra)
        if not self._count("prune", proc.returncode, error_text(proc), final=final):
            return
        plan: dict[str, Any] = json.loads(proc.stdout)
        with self._mutex:
            self.report.marked += len(plan["delete_packs"]) + len(plan["repack_packs"]) + len(plan["orphan_packs"])
            self.report.deleted += len(plan["deleted_packs"])
            self.report.rescued += len(plan["rescued_packs"])
            self.report.waiting += bool(plan["waiting"])
        if final and plan["pending_marks"]:
            self.report.failed.append(f"the final prune left {plan['pending_marks']} marks: {plan['waiting']}")

    def _count(self, op: str, code: int, error: str, *, final: bool = False) -> bool:
        with self._mutex:
            if code == 0:
                self.report.runs[op] += 1
                return True
            if code == 11 and not final:
                self.report.busy += 1
            else:
                self.report.failed.append(f"{op} exited {code}: {error}")
            return False

    # -- verification ------------------------------------------------------------------------------
    def _verify(self, when: str) -> None:
        try:
            listing = list_snapshots(self.target)
        except RuntimeError as exc:
            self.report.corrupt.append(f"{when}: {exc}")
            return
        labels = {label_of(s, self.expected) for s in listing.values()}
        for group, order in self.newest.items():  # forget keeps the newest of each group
            for label in order[-KEEP_LAST:]:
                if label not in labels and (group == "stdin" or self.started[label] > self.wiped):
                    self.report.corrupt.append(f"{when}: the {group} snapshot {label} is gone")
        check = self.target.run("check", "--read-data")
        if check.returncode != 0:
            self.report.corrupt.append(f"{when}: check --read-data exited {check.returncode}: {error_text(check)}")
        for snap in listing.values():
            result = restore_snapshot(self.target, snap, self.work / "scratch")
            label = label_of(snap, self.expected)
            self.report.verified += 1
            if label is None or result.digest != self.expected[label]:
                why = f"exit {result.code}: {result.error}" if result.code else "different content"
                self.report.corrupt.append(f"{when}: snapshot {snap['id'][:8]} ({label}) does not restore: {why}")


__all__ = ["PruneRace", "RaceReport", "tree_digest"]
