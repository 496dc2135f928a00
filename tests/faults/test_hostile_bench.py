"""The fault bench's hostile engine (issue 20, hostile.py and hostile_cases.py): a smoke run of the bench
itself at a tiny size, and proof that its oracles count what they claim to (a restore unlike its source
is counted as wrong bytes; a command that exits 0 where the case expects a refusal is unexpected)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from hostile import Bench, Case, CaseReport, Ctx, Expected, Session
from hostile_cases import CASES, REFUSED
from hostile_oracle import listing_sha256
from zygote import ForkServer

pytestmark = pytest.mark.fault
BENCH = Path(__file__).resolve().parents[2] / "bench" / "faults.py"


def _bench(
    tmp_path: Path, cases: str, backends: str = "local"
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, object]]]:
    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--only",
            "hostile",
            "--backends",
            backends,
            "--hostile-files",
            "2",
            "--hostile-cases",
            cases,
            "--workdir",
            str(tmp_path),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=2300,
    )
    return proc, json.loads(out.read_text()) if out.exists() else []


def test_bench_smoke_junk_objects(tmp_path: Path) -> None:
    proc, rows = _bench(tmp_path, "junk under index/")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "hostile inputs (local): 1 cases, 4 objects or faults injected" in proc.stdout, proc.stdout
    assert "0 wrong bytes restored (goal 0), 0 successes that cannot restore (goal 0)" in proc.stdout
    assert [r["result"] for r in rows] == ["ok"]
    assert "junk under index/" in proc.stdout and "refused right" in proc.stdout


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.timeout(2400)  # ~8 min on a quiet machine, 15+ min on a busy 2-core one
def test_bench_every_case_tiny(tmp_path: Path) -> None:
    """Every case at a tiny size, local and on S3 (SeaweedFS): the goals hold (cases that need root, or a
    local repository, are skipped and say so)."""
    proc, rows = _bench(tmp_path, "", "local,s3")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    assert [(r["backend"], r["result"]) for r in rows] == [("local", "ok"), ("s3", "ok")]


def _sabotage(ctx: Ctx) -> int:
    """No damage at all, but the old snapshot is said to restore to other bytes."""
    ctx.old = (ctx.old[0], Expected(ctx.old[1].name, "0" * 64))
    return 0


def test_engine_counts_wrong_bytes_and_unexpected_exits(tmp_path: Path, fork_server: ForkServer) -> None:
    bench = Bench(tmp_path, fork_server, files=2)
    bench.prepare()
    report = bench.run_case(Case("sabotage", "test", _sabotage, {"check": REFUSED}, rss_limit_mib=1))
    assert report.wrong_bytes == 1, report.problems
    assert report.unexpected == 3, report.problems  # check, measured and not, exit 0; and its peak RSS
    assert any(p.startswith("check: exit 0 (expected 13)") for p in report.problems), report.problems
    assert any("peaked at" in p and "(limit 1 MiB)" in p for p in report.problems), report.problems
    assert report.peak_rss_mib > 1
    assert report.unrestorable == 0 and report.lost_by_prune == 0, report.problems
    assert not report.ok


def _misremember_one_mode(ctx: Ctx) -> int:
    """No damage at all, but the old snapshot's source is remembered with one file 0600 and an extra file."""
    name, listing = ctx.old[1].name, ctx.old[1].listing
    path = next(p for p, d in listing if d.startswith("F 0o644 "))
    entries = [(p, d.replace("F 0o644 ", "F 0o600 ") if p == path else d) for p, d in listing]
    entries.append(("zz-never-backed-up", "F 0o644 0 none"))
    ctx.old = (ctx.old[0], Expected(name, listing_sha256(entries), tuple(sorted(entries))))
    return 0


def test_engine_reports_which_entries_differ(tmp_path: Path, fork_server: ForkServer) -> None:
    """A restore unlike its source is reported entry by entry (in the problem line, and in full beside the
    kept copy), not only as a digest that differs."""
    bench = Bench(tmp_path, fork_server, files=2)
    bench.prepare()
    report = bench.run_case(Case("misremembered", "test", _misremember_one_mode))
    assert report.wrong_bytes == 1, report.problems
    (problem,) = [p for p in report.problems if "unlike its source" in p]
    path, desc = next((p, d) for p, d in bench.old[1].listing if d.startswith("F 0o644 "))
    changed = f"{path}: expected {desc.replace('F 0o644 ', 'F 0o600 ')}, got {desc}"
    assert "2 entries differ" in problem and changed in problem, problem
    assert "zz-never-backed-up: expected F 0o644 0 none, got missing" in problem, problem
    kept = sorted(tmp_path.glob("mismatch-*.diff"))
    assert len(kept) == 1 and kept[0].read_text().splitlines() == sorted(
        [changed, "zz-never-backed-up: expected F 0o644 0 none, got missing"]
    )


def test_sighup_case_holds_when_the_bench_runs_under_nohup(tmp_path: Path, fork_server: ForkServer) -> None:
    """``nohup`` leaves SIGHUP ignored, and an ignored signal is inherited across exec: the stopped backup
    must still get the signal drkit handles (exit 129), not run on and exit 0."""
    bench = Bench(tmp_path, fork_server, files=2)
    bench.prepare()
    case = next(c for c in CASES if c.name == "SIGHUP mid-backup")
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        report = bench.run_case(case)
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert "backup stopped by SIGHUP 129" in report.codes, report.problems
    assert report.ok, report.problems
    assert signal.getsignal(signal.SIGHUP) == previous


def test_a_restore_that_left_no_target_is_counted_not_a_crash(tmp_path: Path) -> None:
    """A restore reported as exited 0 whose target does not exist (it had not started writing when the old
    fork server answered for its reused pid) is wrong bytes with a reason, not a FileNotFoundError."""
    ctx = cast(Ctx, SimpleNamespace(work=tmp_path / "case-1"))
    session = Session(Case("none", "test", lambda c: 0), ctx, CaseReport("none", "test"))
    assert not session.compare("restore old", "f" * 64, tmp_path / "case-1" / "out" / "r1", Expected("src", "0" * 64))
    assert session.report.wrong_bytes == 1
    assert (
        "1 entries differ" in session.report.problems[0]
        and "src: expected a directory, got missing" in (session.report.problems[0])
    ), session.report.problems
