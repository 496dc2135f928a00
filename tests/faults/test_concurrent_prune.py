"""Backups while forget and prune run in other processes (issue 10): no backup fails, check --read-data
passes and every snapshot left restores byte-identical, before and after a final prune settles every
pending mark. The engine is concurrency.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from concurrency import PruneRace, RaceReport
from faultkit import Target

pytestmark = pytest.mark.fault


def _race(target: Target, work: Path, rounds: int, seed: int, stream_mib: int = 6) -> RaceReport:
    report = PruneRace(target, work, seed=seed, stream_mib=stream_mib).run(rounds)
    print(report.summary())  # shown with -s
    assert report.ok, "\n".join(report.failed + report.corrupt)
    assert report.runs["backup stdin"] == rounds and report.runs["backup files"] == rounds
    assert report.runs["prune"] and report.runs["forget"] and report.deleted, report.summary()
    return report


def test_backups_forget_and_prune_race_locally(local_repo: Target, tmp_path: Path) -> None:
    _race(local_repo, tmp_path / "work", rounds=8, seed=7)


@pytest.mark.slow
def test_backups_forget_and_prune_race_longer(local_repo: Target, tmp_path: Path) -> None:
    # whether a backup deduplicates into a marked pack (a rescue) depends on timing here; the unit
    # tests (tests/unit/repository/test_prune_two_phase.py) drive that case deterministically
    _race(local_repo, tmp_path / "work", rounds=30, seed=31)


@pytest.mark.slow
@pytest.mark.integration
def test_backups_forget_and_prune_race_on_s3(s3_repo: Target, tmp_path: Path) -> None:
    _race(s3_repo, tmp_path / "work", rounds=12, seed=12, stream_mib=4)
