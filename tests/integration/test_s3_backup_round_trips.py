"""How many round trips, one after another, opening a repository on S3 and backing up a stream costs
(real SeaweedFS; requests counted at the storage layer, grouped into rounds by a gate, no timing: see
tests/backends/recording.py). Each round is a round trip time on a far-away store: at 60 ms the open, lock
and index load of a backup cost 14 rounds before the first pack could go (0.85 s), 5 now."""

from __future__ import annotations

import hashlib
import io
import uuid
from typing import Any

import pytest
from backends.recording import Call, RecordingBackend, Rounds

from drkit.ops import session
from drkit.repository import snapshots
from drkit.repository.format import RepoConfig
from drkit.repository.repo import Repository
from drkit.repository.streams import SourceRef, backup_stream
from storage_backends import open_backend

pytestmark = pytest.mark.integration

PASSPHRASE = "round-trip-passphrase"
_OPENER = session.open_backend
OPEN = [
    ["get config", "list keys"],  # the config and the key listing together
    ["get keys", "list rotations"],  # the key object(s) and the rotation records' listing together
]
LOCK_AND_VIEW = [
    ["put_if_absent locks"],  # the lock is written ...
    # ... before the others are listed (our own is not read back), and the view is read once, after the
    # lock, alongside that listing
    ["list locks", "list manifests/pending", "list manifests/superseded"],
    ["list index"],  # after the marks (FORMAT.md §13)
]


def _repository(server: Any, monkeypatch: pytest.MonkeyPatch, config: RepoConfig | None = None) -> str:
    server.apply_env(monkeypatch)
    url = server.url(server.make_bucket("drkit-rounds"), uuid.uuid4().hex[:8])
    Repository.init(open_backend(url), PASSPHRASE, config).close()
    return url


def _backup(url: str, data: bytes, gate: Rounds | None, monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    calls: list[Call] = []
    monkeypatch.setattr(session, "open_backend", lambda *a, **k: RecordingBackend(_OPENER(*a, **k), calls, gate))
    repo = session.open_repository(url, PASSPHRASE)
    try:
        with repo.lock(purpose="backup"):
            backup_stream(repo, SourceRef("stdin", "rounds"), io.BytesIO(data))
    finally:
        repo.close()
    return calls


def test_a_first_backup_opens_locks_and_loads_in_five_rounds(
    seaweedfs_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: config, keys, key, rotations, the view (3), lock, locks, our own lock, the view again (3):
    14 rounds before the first pack could go; 6 with the lock listing and the view one after the other.
    Now 5, then the pack, index, snapshot and unlock."""
    url = _repository(seaweedfs_server, monkeypatch)
    rounds = [*OPEN, *LOCK_AND_VIEW, ["put data"], ["put index"], ["put snapshots"], ["delete locks"]]
    gate = Rounds([len(r) for r in rounds])
    calls = _backup(url, b"one small stream " * 1000, gate, monkeypatch)
    assert gate.stalled == [], gate.by_round()
    assert gate.by_round() == rounds
    assert len(calls) == sum(len(r) for r in rounds)


def test_a_deduplicating_rerun_checks_its_packs_in_one_round(
    seaweedfs_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-run that stores nothing new checks that the packs it references exist (packlist.py): a
    stat each, once one after another (one round each), now together."""
    monkeypatch.setenv("DRKIT_INDEX_CHECKPOINT", "1h")  # one index object, however slow the machine
    url = _repository(seaweedfs_server, monkeypatch, RepoConfig(pack_size=1 << 20))
    data = hashlib.shake_256(b"rounds").digest(5 << 20)  # incompressible: several 1 MiB packs
    first = _backup(url, data, None, monkeypatch)
    packs = sum(1 for c in first if c.call == "put" and c.key.startswith("data/"))
    assert sum(1 for c in first if c.call == "put" and c.key.startswith("index/")) == 1
    assert 2 <= packs <= 8  # one round: up to 8 reads in flight on a remote store
    rounds = [*OPEN, *LOCK_AND_VIEW, ["get index"], ["stat data"] * packs, ["put snapshots"], ["delete locks"]]
    gate = Rounds([len(r) for r in rounds])
    _backup(url, data, gate, monkeypatch)
    assert gate.stalled == [], gate.by_round()
    assert gate.by_round() == rounds


def test_latest_reads_the_snapshots_together(seaweedfs_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`restore latest` reads every snapshot document: once one round trip each, now eight at a time."""
    url = _repository(seaweedfs_server, monkeypatch)
    for n in range(5):
        _backup(url, f"stream {n}".encode(), None, monkeypatch)
    repo = session.open_repository(url, PASSPHRASE, load_index=False)
    try:
        assert isinstance(repo.backend, RecordingBackend)
        repo.backend.gate = gate = Rounds([1, 5])
        latest = snapshots.find(repo.manifests, "latest")
    finally:
        repo.close()
    assert gate.stalled == [], gate.by_round()
    assert gate.by_round() == [["list snapshots"], ["get snapshots"] * 5]
    assert latest.source_name == "rounds"
