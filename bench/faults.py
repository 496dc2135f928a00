#!/usr/bin/env python3
"""Fault injection with figures (issue 10): SIGKILL loops, bit flips, a full disk, timeouts and cut uploads.

The engines are the fault tests' own (tests/faults/killing.py, bitflips.py, diskfull.py, timeouts.py); this
script runs them with bigger numbers, on a local repository and on S3 (a SeaweedFS server started here,
tests/servers/seaweedfs.py), and prints one line per engine and a summary table:

    SIGKILL loop     per backend: --kills N processes killed across backup stdin, backup files, forget and
                     prune; after each, check --read-data and a restore of every snapshot that must exist
                     → "N kills, 0 corrupt, 0 lost"
    bit flips        --bitflips N trials on copies of a local repository, object kinds in turn
                     → "bit flips: N/N detected by check, restore refused M/M"
    disk full        a real small tmpfs (when run as root) and injected ENOSPC: exit 14, one line, the
                     repository intact, a later backup succeeds
    timeouts + cuts  per backend: backups and restores through faulty+URL?timeout_rate=0.05&cut_rate=0.05
    backup + prune   per backend: --race-rounds rounds of concurrent backups (stdin and files), forget and
                     two overlapping prunes at seeded random moments (tests/faults/concurrency.py); then
                     check --read-data and every snapshot restored, before and after a final prune
                     → "N rounds, 0 missing blobs"
    hostile inputs   local: one case per class of hostile or broken input (tests/faults/hostile_cases.py),
                     each on a fresh copy of a repository: junk under index/, snapshots/, manifests/,
                     keys/ (no key), key objects asking for absurd KDF work, 300 MB sparse junk,
                     truncated, bit-flipped and lost packs, a damaged index object, crafted trees (bad
                     types, names, 1500 levels deep) and a 1000-level source tree, a stale lock and a live
                     backup from another PID namespace (unshare), SIGTERM/SIGKILL mid-backup, a full
                     tmpfs; then snapshots, restore of an old snapshot and of latest, backup, check,
                     check --read-data, [repair index], forget, prune, and every restore again
                     → "N objects injected; W commands still work, R refused right, 0 wrong bytes
                        restored, 0 successes that cannot restore"

drkit runs as separate processes forked from one preloaded interpreter (tests/faults/zygote.py: a fresh
interpreter spends ~1 s importing on a busy 2-core machine, more than the work being killed);
--fresh-processes runs every command as a fresh `python -m drkit.cli.main` instead.

Run: .venv/bin/python bench/faults.py --kills 50 --bitflips 100     (exit 1 if any engine found a problem)
     .venv/bin/python bench/faults.py --only hostile                (the hostile engine alone, ~5 min)
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "faults"))

from _common import format_table, load_note, machine_summary  # noqa: E402
from bitflips import BitFlips  # noqa: E402
from concurrency import PruneRace  # noqa: E402
from diskfull import disk_full  # noqa: E402
from faultkit import Target, local_target, s3_target  # noqa: E402
from hostile import Bench, CaseReport  # noqa: E402
from hostile_cases import CASES  # noqa: E402
from hostile_store import Places  # noqa: E402
from killing import OPS, KillLoop  # noqa: E402
from timeouts import flaky_roundtrip  # noqa: E402
from tmpfs import can_mount_tmpfs  # noqa: E402
from zygote import ForkServer, Runner, Subprocesses  # noqa: E402


@dataclass
class Row:
    test: str
    backend: str
    figures: str
    ok: bool
    details: list[str] = field(default_factory=list)
    skipped: bool = False

    @property
    def result(self) -> str:
        return "skipped" if self.skipped else "ok" if self.ok else "FAILED"


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--kills", type=int, default=50, help="SIGKILLs per backend (default 50)")
    p.add_argument("--bitflips", type=int, default=100, help="bit-flip trials (default 100)")
    p.add_argument("--backends", default="local,s3", help="comma-separated: local, s3 (default both)")
    p.add_argument("--only", default="kill,flip,full,timeout,race,hostile", help="engines to run (default all)")
    p.add_argument("--race-rounds", type=int, default=20, help="rounds of the backup + prune race per backend")
    p.add_argument("--stream-mib", type=int, default=8, help="size of each backed-up stream in the kill loop")
    p.add_argument(
        "--hostile-files",
        type=int,
        default=12,
        help="shared files in the hostile engine's source tree (default 12, about 1 MB)",
    )
    p.add_argument(
        "--hostile-cases",
        default="",
        help="comma-separated substrings: run only the hostile cases whose name holds one",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--fresh-processes", action="store_true", help="no fork server: a new interpreter per command")
    p.add_argument("--workdir", type=Path, default=None, help="parent of the temp dir (default $TMPDIR)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    return p.parse_args(argv)


def _seaweedfs(stack: ExitStack, work: Path, servers: dict[str, Any]) -> Any:
    """The run's one SeaweedFS server, started on first use."""
    if "s3" not in servers:
        from servers.seaweedfs import start_seaweedfs

        print("starting SeaweedFS ...", flush=True)
        servers["s3"] = stack.enter_context(start_seaweedfs(work / "seaweedfs"))
    return servers["s3"]


def _targets(
    stack: ExitStack, work: Path, runner: Runner, names: list[str], servers: dict[str, Any]
) -> dict[str, Callable[[], Target]]:
    """name → a function making a fresh Target (a new directory or S3 prefix per call)."""
    count = itertools.count()
    makers: dict[str, Callable[[], Target]] = {}
    if "local" in names:
        makers["local"] = lambda: local_target(work / f"local-{next(count)}", work / "home", runner)
    if "s3" in names:
        server = _seaweedfs(stack, work, servers)
        makers["s3"] = lambda: s3_target(server, "drkit-faults", f"repo-{next(count)}", work / "home", runner)
    return makers


def _kill_rows(makers: dict[str, Callable[[], Target]], work: Path, args: argparse.Namespace) -> list[Row]:
    rows = []
    for name, make in makers.items():
        target = make()
        loop = KillLoop(target, work / f"kill-{name}", seed=args.seed, stream_mib=args.stream_mib)
        loop.prepare()
        report = loop.run(args.kills)
        print(report.summary(), flush=True)
        figures = (
            f"{report.kills} kills, {report.corrupt} corrupt, {report.lost} lost "
            f"({', '.join(f'{op} {report.by_op[op]}' for op in OPS)})"
        )
        rows.append(Row("SIGKILL loop", name, figures, report.ok and report.kills >= args.kills, report.problems))
    return rows


def _flip_rows(runner: Runner, work: Path, args: argparse.Namespace) -> list[Row]:
    flips = BitFlips(work / "flips", runner, seed=args.seed)
    flips.prepare()
    report = flips.run(args.bitflips)
    print(report.summary(), flush=True)
    print(format_table(report.table()[0], report.table()[1:]), flush=True)
    return [Row("bit flips", "local", report.summary().removeprefix("bit flips: "), report.ok, report.unexpected)]


def _full_rows(runner: Runner, work: Path) -> list[Row]:
    rows = []
    for mode in ("tmpfs", "injected"):
        if mode == "tmpfs" and (why := can_mount_tmpfs()) is not None:
            rows.append(Row("disk full (tmpfs)", "local", f"skipped: {why}", True, skipped=True))
            continue
        report = disk_full(work / f"full-{mode}", runner, mode)
        print(report.summary(), flush=True)
        figures = (
            f"backup exit {report.exit_code}, check after {report.check_after}, earlier snapshot "
            f"{'restores' if report.baseline_restored else 'LOST'}, later backup exit {report.later_backup}"
        )
        rows.append(Row(f"disk full ({mode})", "local", figures, report.ok, [report.error_line, *report.problems]))
    return rows


def _timeout_rows(makers: dict[str, Callable[[], Target]], work: Path, args: argparse.Namespace) -> list[Row]:
    rows = []
    for name, make in makers.items():
        report = flaky_roundtrip(make(), work / f"flaky-{name}", streams=3, mib=16, seed=args.seed)
        print(report.summary(), flush=True)
        figures = (
            f"{report.backups_ok}/{report.backups} backups, {report.restores_identical}/{report.backups} "
            f"restores identical, check {report.check}"
        )
        rows.append(Row(f"faults {report.faults}", name, figures, report.ok, report.problems))
    return rows


def _race_rows(makers: dict[str, Callable[[], Target]], work: Path, args: argparse.Namespace) -> list[Row]:
    rows = []
    for name, make in makers.items():
        report = PruneRace(make(), work / f"race-{name}", seed=args.seed).run(args.race_rounds)
        print(report.summary(), flush=True)
        missing = len(report.corrupt)
        backups = report.runs["backup stdin"] + report.runs["backup files"]
        figures = (
            f"{backups} backups, {missing} missing blobs or corrupt snapshots, {len(report.failed)} "
            f"failed runs ({', '.join(f'{op} {n}' for op, n in sorted(report.runs.items()))}; packs "
            f"marked {report.marked}, deleted {report.deleted}, rescued {report.rescued}; "
            f"{report.verified} restores verified)"
        )
        rows.append(Row("backup + prune race", name, figures, report.ok, report.failed + report.corrupt))
    return rows


HOSTILE_HEADERS = [
    "case",
    "kind",
    "injected",
    "commands",
    "work",
    "refused right",
    "unexpected",
    "wrong bytes",
    "unrestorable",
    "lost by prune",
]


def _hostile_totals(reports: list[CaseReport]) -> dict[str, int]:
    keys = ("injected", "runs", "works", "refused", "unexpected", "wrong_bytes", "unrestorable", "lost_by_prune")
    return {k: sum(getattr(r, k) for r in reports) for k in keys}


def hostile_summary(reports: list[CaseReport]) -> str:
    t = _hostile_totals(reports)
    ran = [r for r in reports if not r.skipped]
    skipped = f" ({len(reports) - len(ran)} skipped)" if len(ran) < len(reports) else ""
    return (
        f"{len(ran)} cases{skipped}, {t['injected']} objects or faults injected; of {t['runs']} commands "
        f"{t['works']} still work, {t['refused']} refused with the right exit code and one line, "
        f"{t['unexpected']} unexpected; {t['wrong_bytes']} wrong bytes restored (goal 0), "
        f"{t['unrestorable']} successes that cannot restore (goal 0), {t['lost_by_prune']} snapshots lost "
        f"by prune (goal 0)"
    )


def _hostile_rows(runner: Runner, work: Path, args: argparse.Namespace, backend: str, server: Any) -> list[Row]:
    wanted = [w for w in args.hostile_cases.split(",") if w]
    home = work / f"hostile-{backend}"
    bench = Bench(home, runner, files=args.hostile_files, seed=args.seed, places=Places(backend, home, runner, server))
    bench.prepare()
    reports = []
    for case in CASES:
        if wanted and not any(w in case.name for w in wanted):
            continue
        reports.append(report := bench.run_case(case))
        state = f"skipped: {report.skipped}" if report.skipped else "ok" if report.ok else "FAILED"
        rss = f", check's peak RSS {report.peak_rss_mib} MiB" if report.peak_rss_mib else ""
        print(
            f"hostile ({backend}): {case.name}: {report.runs} commands, exits "
            f"{', '.join(report.codes) or 'all 0'}{rss}: {state}",
            flush=True,
        )
    rows = [
        [
            r.case,
            r.kind,
            *(
                ["skipped", "", "", "", "", "", "", ""]
                if r.skipped
                else map(
                    str,
                    (
                        r.injected,
                        r.runs,
                        r.works,
                        r.refused,
                        r.unexpected,
                        r.wrong_bytes,
                        r.unrestorable,
                        r.lost_by_prune,
                    ),
                )
            ),
        ]
        for r in reports
    ]
    print(f"\nhostile inputs, {backend}:\n" + format_table(HOSTILE_HEADERS, rows, left_cols=2), flush=True)
    summary = hostile_summary(reports)
    print(f"hostile inputs ({backend}): {summary}\n", flush=True)
    problems = [f"{r.case}: {p}" for r in reports for p in r.problems]
    return [Row("hostile inputs", backend, summary, all(r.ok for r in reports), problems)]


def run(args: argparse.Namespace, work: Path) -> list[Row]:
    engines = set(args.only.split(","))
    rows: list[Row] = []
    with ExitStack() as stack:
        runner: Runner = Subprocesses() if args.fresh_processes else stack.enter_context(ForkServer(work / "zygote"))
        needs_targets = engines & {"kill", "timeout", "race"}
        servers: dict[str, Any] = {}
        names = args.backends.split(",")
        makers = _targets(stack, work, runner, names, servers) if needs_targets else {}
        if "kill" in engines:
            rows += _kill_rows(makers, work, args)
        if "flip" in engines:
            rows += _flip_rows(runner, work, args)
        if "full" in engines:
            rows += _full_rows(runner, work)
        if "timeout" in engines:
            rows += _timeout_rows(makers, work, args)
        if "race" in engines:
            rows += _race_rows(makers, work, args)
        if "hostile" in engines:
            for name in names:
                server = _seaweedfs(stack, work, servers) if name == "s3" else None
                rows += _hostile_rows(runner, work, args, name, server)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    print(f"$ {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"{machine_summary()}; {load_note()}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="drkit-faults-", dir=args.workdir))
    started = time.monotonic()
    try:
        rows = run(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(
        format_table(
            ["test", "backend", "figures", "result"],
            [[r.test, r.backend, r.figures, r.result] for r in rows],
            left_cols=3,
        )
    )
    for r in rows:
        if not r.ok:
            print(f"\n{r.test} / {r.backend}:\n  " + "\n  ".join(r.details[:20]))
    print(f"\n{time.monotonic() - started:.0f} s; {load_note(warn_if_busy=False)}")
    if args.json:
        args.json.write_text(json.dumps([{**r.__dict__, "result": r.result} for r in rows], indent=2))
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
