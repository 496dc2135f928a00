"""SIGKILL loops (issue 10): backups, forgets and prunes killed at random moments, on a local repository
and on S3 (SeaweedFS); after every kill the repository checks clean and every snapshot that must exist
restores byte-identical. The engine is killing.py, shared with bench/faults.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from faultkit import Target, local_target
from killing import OPS, KillLoop, KillReport
from zygote import Subprocesses

pytestmark = pytest.mark.fault


def _loop(target: Target, work: Path, kills: int, seed: int, stream_mib: int = 8) -> KillReport:
    loop = KillLoop(target, work, seed=seed, stream_mib=stream_mib)
    loop.prepare()
    report = loop.run(kills)
    print(report.summary())  # shown with -s and in the bench
    assert report.ok, "\n".join(report.problems)
    assert report.kills >= kills, report.summary()
    return report


def test_sigkill_loop(any_repo: Target, tmp_path: Path) -> None:
    """Quick: 10 kills on the local repository, 6 on S3 (where every verifying command costs ~0.3 s)."""
    local = any_repo.name == "local"
    _loop(any_repo, tmp_path / "work", kills=10 if local else 6, seed=11, stream_mib=8 if local else 4)


@pytest.mark.slow
def test_sigkill_loop_50_kills(any_repo: Target, tmp_path: Path) -> None:
    report = _loop(any_repo, tmp_path / "work", kills=50, seed=50)
    assert all(report.by_op[op] > 0 for op in OPS), report.summary()
    assert report.stale_locks_removed > 0, "no kill landed while drkit held its lock"


@pytest.mark.slow
def test_sigkill_loop_fresh_interpreters(tmp_path: Path) -> None:
    """The same loop with every command a fresh `python -m drkit.cli.main` instead of a fork."""
    _loop(local_target(tmp_path / "repo", tmp_path / "home", Subprocesses()), tmp_path / "work", kills=8, seed=3)
