"""Hostile and broken repositories (issue 20): inject one class of bad input into a copy of a real
repository, then run the user's commands and count what happens.

The template repository (built once, local disk) holds two files snapshots of one tree: ``old`` and
``new``. Each case (hostile_cases.py) gets a fresh copy, writes a third version of the tree, injects
its objects or faults, then runs, in this order:

    snapshots · restore OLD (an older, intact snapshot) · restore latest · backup files (→ NEW) ·
    restore NEW · check · check --read-data · [repair index · backup again · restore it] ·
    forget --keep-last 2 · prune --grace 0 · [a pending injection finishes, e.g. a backup that held
    its lock all along] · every snapshot that restored before prune, restored again

Each command's exit code is judged against the case's expectation (a set of allowed codes per command,
default {0}): exit 0 allowed → "works"; another allowed code with exactly one ``drkit: error:`` line
and no traceback → "refused"; anything else → "unexpected". Every restore that exits 0 is compared with
the source by an independent digest (hostile_oracle.py: sha256 of every entry's path, type, mode and
bytes, computed from the file system; iterative, so trees thousands of levels deep are fine). Counted:

- wrong bytes: a restore that exits 0 with content unlike its source, or a file written outside the
  restore target (goal 0);
- successes that cannot restore: a backup that exits 0 whose snapshot then fails to restore (goal 0);
- lost by prune: a snapshot that restored before forget + prune and fails after (goal 0).

Standard library plus drkit itself (the crafting with the key opens the repository in this process).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from faultkit import Target, error_text, must, write_tree
from hostile_oracle import (
    Listing,
    escape_marks,
    file_sha256,
    listing_diff,
    listing_sha256,
    rm_rf,
    tree_listing,
    tree_sha256,
)
from hostile_store import Places, Store
from zygote import Runner

STREAM = "-"  # Expected.name of a stream snapshot: restored with --to FILE
POST = ("forget", "prune")


@dataclass(frozen=True)
class Expected:
    """What a restore must give: the directory it creates under the target and that tree's digest (and, for
    a tree, its listing: a restore unlike it is reported entry by entry)."""

    name: str
    digest: str
    listing: Listing = field(default=(), compare=False, repr=False)


def expect_tree(root: Path) -> Expected:
    """What a restore of the tree at ``root``, as it is now, must give."""
    listing = tree_listing(root)
    return Expected(root.name, listing_sha256(list(listing)), listing)


@dataclass
class Pending:
    """An injection still running while the commands run (a backup holding its lock); ``finish`` ends it
    and returns (exit code, snapshot id, what its snapshot must restore to) once forget and prune ran."""

    finish: Callable[[], tuple[int, str, Expected | None]]
    stop: Callable[[], None]


@dataclass
class Case:
    name: str
    kind: str  # "no key", "with key", "damage", "process", "disk"
    inject: Callable[[Ctx], int]  # returns the number of objects (or faults) injected
    expect: dict[str, frozenset[int]] = field(default_factory=dict)
    repair: bool = False  # run `repair index` and a backup after check
    latest: Callable[[Ctx], Expected | None] | None = None  # what `restore latest` gives, if not the template's
    needs: Callable[[], str | None] = lambda: None  # why the case cannot run here, or None
    local_only: bool = False  # injects through the file system (sparse files, tmpfs, crafting with the key)
    rss_limit_mib: int = 0  # if set, `check` in a fresh interpreter must peak below this (os.wait4)

    def allowed(self, command: str) -> frozenset[int]:
        return self.expect.get(command, frozenset({0}))


@dataclass
class Ctx:
    """One case's world: its repository copy, the source tree, the template's snapshots."""

    work: Path
    repo: Path  # the repository's directory (local cases only)
    store: Store  # its objects, raw
    src: Path
    target: Target
    password: str
    old: tuple[str, Expected]
    new: tuple[str, Expected]
    live_file: Path  # bytes a stdin backup can deduplicate against the old snapshot only
    seed: int
    stack: ExitStack
    pending: Pending | None = None
    injected: list[tuple[str, subprocess.CompletedProcess[bytes]]] = field(default_factory=list)  # judged too

    def run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return self.target.run(*args)


@dataclass
class CaseReport:
    case: str
    kind: str
    injected: int = 0
    runs: int = 0
    works: int = 0
    refused: int = 0
    unexpected: int = 0
    wrong_bytes: int = 0
    unrestorable: int = 0
    lost_by_prune: int = 0
    peak_rss_mib: int = 0  # of the measured `check`, when the case measures one
    codes: list[str] = field(default_factory=list)  # "backup 13" for every non-zero exit
    problems: list[str] = field(default_factory=list)
    skipped: str = ""

    @property
    def ok(self) -> bool:
        return not (self.unexpected or self.wrong_bytes or self.unrestorable or self.lost_by_prune)


class Bench:
    """Builds the template repository once, then runs cases on copies of it (local, or S3 via ``places``)."""

    def __init__(
        self, work: Path, runner: Runner, *, files: int = 12, seed: int = 1, places: Places | None = None
    ) -> None:
        self.work, self.runner, self.files, self.seed = work, runner, files, seed
        self.places = places or Places("local", work, runner)
        self.src = work / "src"
        self.count = 0

    def prepare(self) -> None:
        self.template, t = self.places.make("template")
        self.password = t.env["DRKIT_PASSWORD"]
        must(t.run("init", "--pack-size-mib", "1"), "drkit init")
        self.src.mkdir(parents=True)
        self.old = self._backup(t, "v1")
        self.live_file = self.work / "live.bin"
        shutil.copyfile(self.src / "var" / "v1-0.dat", self.live_file)
        self.new = self._backup(t, "v2")

    def _backup(self, t: Target, label: str) -> tuple[str, Expected]:
        write_tree(self.src, self.seed, label, files=self.files)
        expected = expect_tree(self.src)
        proc = must(t.run("backup", "files", str(self.src), "--json"), f"backup {label}")
        return str(json.loads(proc.stdout)["snapshot"]), expected

    def run_case(self, case: Case) -> CaseReport:
        report = CaseReport(case.name, case.kind)
        why = case.needs() if case.local_only is False or self.places.backend == "local" else "local only"
        if why is not None:
            report.skipped = why
            return report
        self.count += 1
        work = self.work / f"case-{self.count}"
        (work / "out").mkdir(parents=True)
        with ExitStack() as stack:
            store, target = self.places.make(f"case-{self.count}/repo")
            ctx = Ctx(
                work,
                work / "repo",
                store,
                self.src,
                target,
                self.password,
                self.old,
                self.new,
                self.live_file,
                self.seed,
                stack,
            )
            stack.callback(rm_rf, work, self.src / "deep")
            self.template.copy_to(store)
            write_tree(self.src, self.seed, f"v3-{self.count}", files=self.files)
            report.injected = case.inject(ctx)
            if ctx.pending is not None:
                stack.callback(ctx.pending.stop)
            Session(case, ctx, report).run()
        return report


class Session:
    """The command sequence of one case, judged and counted."""

    def __init__(self, case: Case, ctx: Ctx, report: CaseReport) -> None:
        self.case, self.ctx, self.report = case, ctx, report
        self.restorable: dict[str, Expected] = {}  # snapshots seen restoring identical, to re-check after prune
        self.n = 0

    def run(self) -> None:
        c, ctx = self.case, self.ctx
        for command, proc in ctx.injected:  # drkit runs that were part of the injection (a stopped backup)
            self.judge(command, proc)
        self.command("snapshots", ["snapshots"])
        if c.rss_limit_mib:
            self.peak_rss(c.rss_limit_mib)
        self.restore("restore old", ctx.old[0], ctx.old[1])
        latest = c.latest(ctx) if c.latest is not None else ctx.new[1]
        self.restore("restore latest", "latest", latest)
        expected = expect_tree(ctx.src)
        self.backup_and_restore("backup", expected)
        self.command("check", ["check"])
        self.command("check --read-data", ["check", "--read-data"])
        if c.repair:
            self.command("repair index", ["repair", "index"])
            self.backup_and_restore("backup after repair", expected)
        self.command("forget", ["forget", "--keep-last", "2"])
        self.command("prune", ["prune", "--grace", "0"])
        if ctx.pending is not None:
            self.finish_pending(ctx.pending)
        self.after_prune()

    def judge(self, command: str, proc: subprocess.CompletedProcess[bytes], rule: str = "") -> bool:
        """Count ``proc``'s outcome against the codes allowed for ``rule`` (default: ``command``); True
        when it exited 0."""
        r, code = self.report, proc.returncode
        allowed = self.case.allowed(rule or command)
        err = proc.stderr.decode(errors="replace")
        r.runs += 1
        if code:
            r.codes.append(f"{command} {code}")
        lines = [ln for ln in err.splitlines() if ln.startswith("drkit: error: ")]
        crash = "Traceback" in err or "internal error" in err
        if code in allowed and not crash and (code == 0 or len(lines) == 1):
            if code == 0:
                r.works += 1
            else:
                r.refused += 1
        else:
            r.unexpected += 1
            shown = ",".join(map(str, sorted(allowed)))
            r.problems.append(f"{command}: exit {code} (expected {shown}): {error_text(proc)}")
        return code == 0

    def peak_rss(self, limit_mib: int) -> None:
        """``check`` (it reads every key, index, snapshot and manifest object) in a fresh interpreter, its
        peak RSS taken from os.wait4: injected objects must not make drkit derive or read hundreds of MB."""
        argv = [sys.executable, "-m", "drkit.cli.main", "check", "--repo", self.ctx.target.url]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(argv, stdout=out, stderr=err, env=self.ctx.target.env)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            err.seek(0)
            done = subprocess.CompletedProcess(argv, proc.returncode, b"", err.read())
        self.report.peak_rss_mib = usage.ru_maxrss // 1024
        self.judge("check (measured)", done, rule="check")
        if self.report.peak_rss_mib > limit_mib:
            self.report.unexpected += 1
            self.report.problems.append(f"check peaked at {self.report.peak_rss_mib} MiB (limit {limit_mib} MiB)")

    def command(self, command: str, args: list[str]) -> subprocess.CompletedProcess[bytes]:
        proc = self.ctx.run(*args)
        self.judge(command, proc)
        return proc

    def restore(self, command: str, ref: str, expected: Expected | None, *, judged: bool = True) -> bool:
        """Restore ``ref`` into a fresh directory; True when it exited 0 with the expected tree."""
        self.n += 1
        out = self.ctx.work / "out" / f"r{self.n}"
        try:
            proc = self.ctx.run(*_restore_args(ref, out, expected))
            if judged and not self.judge(command, proc):
                return False
            return proc.returncode == 0 and self.compare(command, ref, out, expected)
        finally:
            self.escaped(command)
            rm_rf(out)

    def compare(self, command: str, ref: str, out: Path, expected: Expected | None) -> bool:
        if expected is None:  # nothing to compare with
            return True
        if _digest_of(out, expected) == expected.digest:
            self.restorable.setdefault(ref, expected)
            return True
        self.report.wrong_bytes += 1
        kept = self.ctx.work.parent / f"mismatch-{self.ctx.work.name}-{self.n}"  # evidence (bench --keep)
        if out.exists():  # a restore that exited 0 without creating its target is counted, not a crash
            shutil.copytree(out, kept, symlinks=True)
        diff = _differences(out, expected)
        kept.with_name(f"{kept.name}.diff").write_text("".join(f"{line}\n" for line in diff))
        shown = "; ".join(diff[:3]) + (f"; and {len(diff) - 3} more" if len(diff) > 3 else "")
        self.report.problems.append(
            f"{command}: {ref[:12]} restored (exit 0) unlike its source; copy at {kept}, "
            f"{len(diff)} entries differ (all in {kept.name}.diff): {shown}"
        )
        return False

    def escaped(self, command: str) -> None:
        """A file named by a crafted tree's refused names, anywhere: inside or outside the target."""
        found = escape_marks(self.ctx.work)
        if found:
            self.report.wrong_bytes += len(found)
            self.report.problems.append(f"{command}: crafted names were written: {found[:3]}")
            rm_rf(*map(Path, found))

    def backup_and_restore(self, command: str, expected: Expected) -> None:
        proc = self.command(command, ["backup", "files", str(self.ctx.src), "--json"])
        if proc.returncode == 0:
            snap = str(json.loads(proc.stdout)["snapshot"])
            self.success_restores(f"restore {command}", snap, expected)

    def success_restores(self, command: str, snap: str, expected: Expected) -> None:
        """A command that exited 0 wrote ``snap``: it must restore to ``expected``."""
        self.n += 1
        out = self.ctx.work / "out" / f"r{self.n}"
        try:
            proc = self.ctx.run(*_restore_args(snap, out, expected))
            self.report.runs += 1
            if proc.returncode:
                self.report.unrestorable += 1
                self.report.problems.append(f"{command}: {snap[:12]} exit {proc.returncode}: {error_text(proc)}")
            elif self.compare(command, snap, out, expected):
                self.report.works += 1
        finally:
            rm_rf(out)

    def finish_pending(self, pending: Pending) -> None:
        code, snap, expected = pending.finish()
        self.report.runs += 1
        if code != 0:
            self.report.unexpected += 1
            self.report.problems.append(f"pending backup: exit {code}")
            return
        self.report.works += 1
        if expected is not None:
            self.success_restores("restore pending backup", snap, expected)

    def after_prune(self) -> None:
        listed = self.ctx.run("snapshots", "--json")
        ids = {s["id"] for s in json.loads(listed.stdout)} if listed.returncode == 0 else set(self.restorable)
        for snap, expected in list(self.restorable.items()):
            if snap == "latest" or snap not in ids:
                continue
            self.report.runs += 1
            if self.restore("restore after prune", snap, expected, judged=False):
                self.report.works += 1
            else:
                self.report.lost_by_prune += 1
                self.report.problems.append(f"restore after prune: {snap[:12]} no longer restores identical")


def _restore_args(ref: str, out: Path, expected: Expected | None) -> list[str]:
    if expected is not None and expected.name == STREAM:
        return ["restore", ref, "--to", str(out)]
    return ["restore", ref, "--target", str(out)]


def _differences(out: Path, expected: Expected) -> list[str]:
    """What differs between the restore at ``out`` and ``expected``, entry by entry where the listing is known."""
    got = out / expected.name
    if expected.name == STREAM:
        return [f"the file's digest differs ({'missing' if not out.exists() else 'no listing to compare'})"]
    if not got.is_dir():
        return [f"{expected.name}: expected a directory, got {'missing' if not got.exists() else 'another type'}"]
    if not expected.listing:
        return [f"{expected.name}: the digest differs (no listing to compare)"]
    return listing_diff(expected.listing, tree_listing(got)) or ["the listings agree, the digests did not"]


def _digest_of(out: Path, expected: Expected) -> str | None:
    if expected.name == STREAM:
        return file_sha256(out) if out.is_file() else None
    got = out / expected.name
    return tree_sha256(got) if got.is_dir() else None
