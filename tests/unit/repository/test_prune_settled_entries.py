"""A pack a prune deletes while settling an earlier mark stays excluded in that run's index (CI failure of
tests/faults/test_concurrent_prune.py, prune exit 13 "missing object: data/…"): a backup that finished
meanwhile stored the same blobs anew, and the run's later walk of its snapshot must read the new copy,
not the deleted pack the in-memory index still listed."""

from __future__ import annotations

import io
import random
import time
from collections.abc import Iterator

import pytest

from drkit.core import clock
from drkit.pipeline import ChunkerParams
from drkit.repository import snapshots
from drkit.repository.check import check_repository
from drkit.repository.format import RepoConfig
from drkit.repository.prune import PruneOptions, prune
from drkit.repository.repo import Repository
from drkit.repository.streams import SourceRef, backup_stream, restore_stream
from drkit.retention.forget import forget
from drkit.retention.policy import Policy
from storage_backends.testing.memory import MemoryBackend

SMALL = ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=5)
HOUR = 3600.0
_NOW = [0.0]


@pytest.fixture(autouse=True)
def now() -> Iterator[list[float]]:
    _NOW[0] = time.time()
    clock.set_clock(lambda: _NOW[0])
    yield _NOW
    clock.set_clock(None)


def backup(repo: Repository, payload: bytes) -> str:
    _NOW[0] += 60
    with repo.lock(purpose="backup"):
        return backup_stream(repo, SourceRef("stdin", "db"), io.BytesIO(payload)).id


def payload(seed: int) -> bytes:
    return random.Random(seed).randbytes(200_000)


def test_a_backup_storing_again_what_a_settled_mark_deleted_is_walked_from_its_new_copy() -> None:
    repo = Repository.init(MemoryBackend(), "pw", RepoConfig(chunker=SMALL, pack_size=64 << 10))
    backup(repo, payload(1))
    backup(repo, payload(2))
    forget(Repository.open(repo.backend, "pw"), Policy(keep_last=1))  # the first snapshot goes
    _NOW[0] += HOUR
    first = prune(Repository.open(repo.backend, "pw"), PruneOptions(grace=HOUR))
    assert first.mark is not None and not first.deleted_packs  # its packs marked, waiting
    backup(repo, payload(3))
    forget(Repository.open(repo.backend, "pw"), Policy(keep_last=1))  # the second goes: a new mark below
    _NOW[0] += 2 * HOUR
    again: list[str] = []

    def meanwhile(_: int) -> None:  # after the run settled the first mark: those packs are deleted
        again.append(backup(Repository.open(repo.backend, "pw"), payload(1)))  # the same blobs, stored anew

    plan = prune(Repository.open(repo.backend, "pw"), PruneOptions(grace=0.0), on_total=meanwhile)
    assert set(first.delete_packs) <= set(plan.deleted_packs) and plan.mark is not None
    fresh = Repository.open(repo.backend, "pw")
    assert check_repository(fresh, read_data=True).ok
    out = io.BytesIO()
    restore_stream(fresh, snapshots.find(fresh.manifests, again[0]), out)
    assert out.getvalue() == payload(1)
