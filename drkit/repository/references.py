"""Which blobs a snapshot needs: stream and bundle roots here, other root types (file trees, …)
through ``ROOT_WALKERS``, registered by the source that defines them. Some other manifests hold
content too (archived AOF segments): their kinds are in ``ROOTED_KINDS``, and ``live_blobs`` — what
prune must keep — includes them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..core.errors import IntegrityError
from . import snapshots
from .repo import Repository
from .snapshots import Snapshot
from .streams import iter_stream_ids

# root type → function(repo, root) yielding every blob id the root references
ROOT_WALKERS: dict[str, Callable[[Repository, dict[str, Any]], Iterator[bytes]]] = {}
# manifest kinds whose documents hold a content root under "root"; named here, not registered on
# import, so that prune never drops their data because a source module was not loaded
ROOTED_KINDS: set[str] = {"redis_aof"}


def _stream_blobs(repo: Repository, root: dict[str, Any]) -> Iterator[bytes]:
    yield from (bytes.fromhex(h) for h in root["lists"])
    yield from iter_stream_ids(repo, root)


def referenced_blobs(repo: Repository, snap: Snapshot) -> Iterator[bytes]:
    """Every blob id ``snap`` references (list and tree blobs included); may repeat ids."""
    kind = snap.root.get("type")
    if kind == "stream":
        yield from _stream_blobs(repo, snap.root)
    elif kind == "bundle":
        for part in snap.root["parts"].values():
            yield from _stream_blobs(repo, part)
    elif kind in ROOT_WALKERS:
        yield from ROOT_WALKERS[kind](repo, snap.root)
    else:
        raise IntegrityError(f"snapshot {snap.short_id}: unknown root type {kind!r}")


def live_blobs(repo: Repository) -> set[bytes]:
    """Every blob a snapshot or a rooted manifest references: what prune must keep."""
    live: set[bytes] = set()
    for snap in snapshots.load_all(repo.manifests):
        live.update(referenced_blobs(repo, snap))
    for kind in sorted(ROOTED_KINDS):
        for doc_id, doc in repo.manifests.find(kind):
            live.update(referenced_blobs(repo, Snapshot("", "", doc["root"], id=doc_id)))
    return live
