"""Drill history in the repository (memory backend): stored sealed, grouped per job, oldest first,
limited to the newest drills per job."""

from __future__ import annotations

import pytest

from drkit.core.errors import UsageError
from drkit.drills.history import load_history, save_result
from drkit.drills.result import CheckResult, DrillResult, TargetResult
from drkit.repository.repo import Repository
from storage_backends.testing.memory import MemoryBackend


def drill(job: str, started: str, rto: float) -> DrillResult:
    return DrillResult(
        job=job,
        source_kind="files",
        sandbox="local",
        started_at=started,
        snapshot_id="ab" * 16,
        rto_seconds=rto,
        checks=[CheckResult("files.content", rto < 100, "")],
        targets=[TargetResult("rto", 100.0, rto)],
    )


@pytest.fixture
def repo() -> Repository:
    return Repository.init(MemoryBackend(), "pw")


def test_save_load_group_order_limit(repo: Repository) -> None:
    newer = drill("web", "2024-05-03T08:00:00+00:00", 30.0)
    older = drill("web", "2024-05-01T08:00:00+00:00", 150.0)
    other = drill("db", "2024-05-02T08:00:00+00:00", 20.0)
    ids = [save_result(repo.manifests, r) for r in (newer, older, other)]
    assert [r.id for r in (newer, older, other)] == ids and len(set(ids)) == 3

    history = load_history(repo.manifests)
    assert list(history) == ["db", "web"]
    assert history["web"] == [older, newer]  # oldest first, ids included
    assert history["db"] == [other]

    assert load_history(repo.manifests, last=1) == {"db": [other], "web": [newer]}
    assert load_history(repo.manifests, job="web", last=5) == {"web": [older, newer]}
    assert load_history(repo.manifests, job="nope") == {}


def test_history_survives_reopen_and_stays_sealed(repo: Repository) -> None:
    result = drill("web", "2024-05-03T08:00:00+00:00", 30.0)
    save_result(repo.manifests, result)
    stored = b"".join(repo.backend.get(i.key).read() for i in repo.backend.list("manifests/drill/"))
    assert b"files.content" not in stored
    reopened = Repository.open(repo.backend, "pw", load_index=False)
    assert load_history(reopened.manifests) == {"web": [result]}


def test_last_must_be_positive(repo: Repository) -> None:
    with pytest.raises(UsageError):
        load_history(repo.manifests, last=0)
