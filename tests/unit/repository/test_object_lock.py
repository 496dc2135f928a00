"""Immutability on an in-memory store that keeps and reports retention: config versions, retention on
every write, forget and prune keeping locked objects, and freeing them once the retention ends."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

import pytest

from drkit.core import clock
from drkit.core.errors import UsageError
from drkit.pipeline import ChunkerParams
from drkit.repository import snapshots
from drkit.repository.format import RepoConfig
from drkit.repository.immutability import RetainingBackend
from drkit.repository.prune import PruneOptions, prune
from drkit.repository.repo import Repository
from drkit.repository.streams import SourceRef, backup_stream, restore_stream
from drkit.retention.forget import forget
from drkit.retention.policy import Policy
from storage_backends.base import Capabilities, Data, ObjectInfo, PutOptions
from storage_backends.testing.memory import MemoryBackend

DAY = 86400.0
SMALL = ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=5)


class LockingMemory(MemoryBackend):
    """Keeps each object's retention end and reports it from ``stat``, like S3 with Object Lock."""

    def __init__(self) -> None:
        super().__init__()
        self.capabilities = Capabilities(object_lock=True)
        self.retained: dict[str, datetime] = {}

    def put(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        super().put(key, data, options)
        self._retain(key, options)

    def put_if_absent(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        super().put_if_absent(key, data, options)
        self._retain(key, options)

    def _retain(self, key: str, options: PutOptions | None) -> None:
        if options is not None and options.retain_until is not None:
            self.retained[key] = options.retain_until

    def stat(self, key: str) -> ObjectInfo:
        return replace(super().stat(key), retain_until=self.retained.get(key))


@pytest.fixture
def fake_now() -> Iterator[list[float]]:
    clock.set_clock(None)
    yield []
    clock.set_clock(None)


def _shift(seconds: float) -> None:
    now = clock.now() + seconds
    clock.set_clock(lambda: now)


def test_plain_config_keeps_the_version_1_layout() -> None:
    doc = json.loads(RepoConfig().to_json())
    assert doc["version"] == 1 and "immutable_days" not in doc and "lock_mode" not in doc
    assert RepoConfig.from_json(json.dumps(doc).encode()).immutable_days == 0  # an old repository reads


def test_immutable_config_is_version_2_and_round_trips() -> None:
    config = RepoConfig(immutable_days=30, lock_mode="compliance")
    assert config.version == 2
    again = RepoConfig.from_json(config.to_json())
    assert (again.immutable_days, again.lock_mode, again.version) == (30, "compliance", 2)


def test_newer_configs_are_refused_clearly() -> None:
    doc = json.loads(RepoConfig().to_json())
    with pytest.raises(UsageError, match="newer than this drkit"):
        RepoConfig.from_json(json.dumps({**doc, "version": 3}).encode())
    with pytest.raises(UsageError, match="newer than this drkit"):
        RepoConfig.from_json(json.dumps({**doc, "future_field": 1}).encode())


def test_init_needs_a_store_that_can_lock() -> None:
    with pytest.raises(UsageError, match="cannot lock objects"):
        Repository.init(MemoryBackend(), "pw", RepoConfig(immutable_days=1))


def _backup(repo: Repository, data: bytes) -> str:
    _shift(60)  # each snapshot a minute after the last
    return backup_stream(repo, SourceRef("stdin", "db"), io.BytesIO(data)).id


def test_locked_data_is_kept_until_its_retention_ends(fake_now: list[float]) -> None:
    store = LockingMemory()
    repo = Repository.init(store, "pw", RepoConfig(immutable_days=1, chunker=SMALL, pack_size=64 << 10))
    assert isinstance(repo.backend, RetainingBackend)
    blobs = [bytes([i]) * 1000 + (b"%d" % i) * 50_000 for i in range(3)]
    ids = [_backup(repo, b) for b in blobs]
    assert all(k in store.retained for k in store._objects if not k.startswith("locks/"))

    result = forget(repo, Policy(keep_last=1))
    assert sorted(result.locked) == sorted(ids[:2]) and result.removed == []
    assert len(snapshots.load_all(repo.manifests)) == 3

    _shift(2 * DAY)  # retention over: the same policy now removes, prune frees
    assert sorted(d.snapshot.id for d in forget(repo, Policy(keep_last=1)).removed) == sorted(ids[:2])
    plan = prune(repo, PruneOptions(orphan_age=0))
    assert plan.delete_packs and not plan.locked_packs
    repo.load_index()
    out = io.BytesIO()
    restore_stream(repo, snapshots.find(repo.manifests, ids[2]), out)
    assert out.getvalue() == blobs[2]


def test_prune_keeps_locked_packs_indexed_and_supersedes_locked_indexes(fake_now: list[float]) -> None:
    store = LockingMemory()
    repo = Repository.init(store, "pw", RepoConfig(immutable_days=1, chunker=SMALL, pack_size=64 << 10))
    old = _backup(repo, b"o" * 200_000 + bytes(range(256)) * 400)
    kept_data = b"k" * 100_000 + bytes(range(255, -1, -1)) * 300
    keep = _backup(repo, kept_data)
    _shift(2 * DAY)
    repo.manifests.delete(snapshots.KIND, old)  # the old snapshot's retention ended ...
    _shift(-2 * DAY)  # ... but its packs and the index objects are still locked
    plan = prune(repo, PruneOptions(orphan_age=0))
    assert plan.locked_packs and not plan.delete_packs and not plan.repack_packs
    assert repo.manifests.ids("superseded")
    repo.load_index()
    assert set(plan.locked_packs) <= set(repo.index.pack_sizes)
    out = io.BytesIO()
    restore_stream(repo, snapshots.find(repo.manifests, keep), out)
    assert out.getvalue() == kept_data


def test_prune_gives_an_immutable_repository_no_space_reserve() -> None:
    """`prune --reserve-mib` must not do what init refuses: a reserve under retention cannot be deleted,
    and each forget and prune (every backup's retention step) would rewrite it, leaving another locked
    version of it on the bucket for immutable_days. Before: prune wrote ``reserve/<bytes>`` locked."""
    store = LockingMemory()
    repo = Repository.init(store, "pw", RepoConfig(immutable_days=1, chunker=SMALL, pack_size=64 << 10))
    with pytest.raises(UsageError, match="immutable"):
        prune(repo, PruneOptions(grace=0, reserve=1 << 20))
    assert not [k for k in store._objects if k.startswith("reserve/")]
    assert not [k for k in store._objects if k.startswith("locks/")]
    prune(repo, PruneOptions(grace=0, reserve=0))  # none asked for: nothing to refuse
