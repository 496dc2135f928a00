"""A backup lists the pending marks and the superseded records side by side (one round trip), so it can see a
prune's superseded record (written when the mark's rescues are indexed, before its packs are deleted) and miss
a mark written just before it: its index then holds that mark's pending index object as a usable one and it
deduplicates into the marked packs. The lock protocol must still keep those packs: the mark is newer than
the backup's view (docs/repository-safety.md, "Round trips", item 5). From the review of latency25."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from test_object_lock import DAY, SMALL, LockingMemory, _shift, fake_now  # noqa: F401

from drkit.core import clock
from drkit.repository import snapshots
from drkit.repository.format import RepoConfig
from drkit.repository.prune import PruneOptions, prune
from drkit.repository.repo import Repository
from drkit.repository.streams import SourceRef, backup_stream, restore_stream
from drkit.retention.forget import forget
from drkit.retention.policy import Policy

pytestmark = pytest.mark.usefixtures("fake_now")


class PruneBetweenListings:
    """B's view of the store: a prune runs just after manifests/pending/ was listed, before
    manifests/superseded/ is."""

    def __init__(self, store: LockingMemory) -> None:
        self.inner = store
        self.capabilities = store.capabilities
        self.display = store.display
        self.pruned = threading.Event()
        self.mark: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def list(self, prefix: str = "") -> Iterator[Any]:
        found = list(self.inner.list(prefix))
        if prefix == "manifests/pending/" and not self.pruned.is_set():
            plan = prune(Repository.open(self.inner, "pw", load_index=False), PruneOptions(orphan_age=0))
            self.plan = plan
            self.mark = plan.mark
            self.pruned.set()
        return iter(found)


def _listing_waits(view: PruneBetweenListings) -> None:
    real = view.list

    def superseded_after_prune(prefix: str = "") -> Iterator[Any]:
        if prefix == "manifests/superseded/" and not view.pruned.is_set():
            view.pruned.wait(10)  # together on the branch: wait for the pending listing's prune
        return real(prefix)

    view.list = superseded_after_prune  # type: ignore[method-assign]


def test_superseded_seen_mark_missed_still_keeps_the_packs() -> None:
    store = LockingMemory()
    repo = Repository.init(store, "pw", RepoConfig(immutable_days=1, chunker=SMALL, pack_size=64 << 10))
    one = b"1" * 150_000 + bytes(range(256)) * 400
    first = backup_stream(repo, SourceRef("stdin", "db"), io.BytesIO(one)).id
    _shift(2 * DAY)  # data(1)'s objects free; data(2)'s index object will be held (superseded)
    backup_stream(repo, SourceRef("stdin", "db"), io.BytesIO(b"2" * 150_000 + bytes(range(255, -1, -1)) * 400))
    _shift(60)
    forget(repo, Policy(keep_last=1))
    assert first not in {s.id for s in snapshots.load_all(repo.manifests)}

    view = PruneBetweenListings(store)
    _listing_waits(view)
    late = Repository.open(view, "pw")  # type: ignore[arg-type]
    _shift(600)  # the forget's tombstone older than B's view: not recent
    with late.lock(purpose="backup"):  # the view is read here: pending listed, prune, superseded listed
        assert view.pruned.is_set(), "hook"
        assert view.mark is not None, view.plan
        assert late.superseded.indexes  # the record seen ...
        assert view.mark not in late.marks  # ... the mark not
        again = backup_stream(late, SourceRef("stdin", "db"), io.BytesIO(one)).id
        store_repo = Repository.open(store, "pw", load_index=False)
        assert snapshots.find(store_repo.manifests, again).stats["new_blobs"] == 0  # into the marked packs
        _shift(300)  # B's lock not stale (lifetime 1800 s)
        held = prune(Repository.open(store, "pw", load_index=False), PruneOptions(grace=0, orphan_age=0))
        assert held.deleted_packs == [] and any("waiting for locks older than the mark" in w for w in held.waiting)
    _shift(60)
    settled = prune(Repository.open(store, "pw", load_index=False), PruneOptions(grace=0, orphan_age=0))
    assert settled.rescued_packs and not settled.deleted_packs
    fresh = Repository.open(store, "pw")
    out = io.BytesIO()
    restore_stream(fresh, snapshots.find(store_repo.manifests, again), out)
    assert out.getvalue() == one
    clock.set_clock(None)
