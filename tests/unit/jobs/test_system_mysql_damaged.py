"""A MySQL component of a system restore refuses (exit 13) a damaged manifest only when it may be a dump that
ended by the target T, as the files and PostgreSQL components do (``refuse_damaged_until``): it used the
``latest`` form, so any damaged manifest stored after the chosen dump started, a month after T included,
blocked restoring the system to T. One stored by T is still refused."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from drkit.core.errors import IntegrityError
from drkit.pipeline import ChunkerParams
from drkit.repository.format import RepoConfig
from drkit.repository.manifests import manifest_key
from drkit.repository.repo import Repository
from drkit.repository.snapshots import KIND
from drkit.repository.streams import SourceRef, backup_stream
from drkit.sources.mysql.system import plan
from storage_backends.testing.memory import MemoryBackend


def _repo_with_damage(stored_after_t: timedelta) -> tuple[Repository, str, datetime]:
    """A dump of ``shop`` that ended before T, then a manifest damaged in storage, stored T + ``stored_after_t``:
    (the repository reopened, the dump's id, T)."""
    backend = MemoryBackend()
    small = ChunkerParams(min_size=1 << 10, avg_size=4 << 10, max_size=16 << 10)
    repo = Repository.init(backend, "pw", RepoConfig(chunker=small, pack_size=64 << 10))
    dump = backup_stream(repo, SourceRef("mysql", "shop", [], {"mode": "logical"}), io.BytesIO(b"-- a dump\n"))
    later = backup_stream(repo, SourceRef("mysql", "shop", [], {"mode": "logical"}), io.BytesIO(b"-- later\n"))
    repo.close()
    target = datetime.fromisoformat(dump.end_time or dump.time).astimezone(UTC) + timedelta(milliseconds=1)
    key = manifest_key(KIND, later.id)
    backend._objects[key] = (b"bit rot", target + stored_after_t)  # damaged; its stored time kept
    return Repository.open(backend, "pw"), dump.id, target


def test_a_manifest_damaged_long_after_t_does_not_block_the_restore_to_t() -> None:
    repo, dump, target = _repo_with_damage(timedelta(days=30))
    assert plan(repo, "db", "shop", target).snapshot == dump


def test_a_manifest_damaged_by_t_is_still_refused() -> None:
    repo, _, target = _repo_with_damage(timedelta(0))
    with pytest.raises(IntegrityError):
        plan(repo, "db", "shop", target)
