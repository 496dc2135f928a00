"""Which blobs a snapshot needs: stream and bundle roots here, other root types (file trees, …)
through ``ROOT_WALKERS``, registered by the source that defines them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..core.errors import IntegrityError
from .repo import Repository
from .snapshots import Snapshot
from .streams import iter_stream_ids

# root type → function(repo, root) yielding every blob id the root references
ROOT_WALKERS: dict[str, Callable[[Repository, dict[str, Any]], Iterator[bytes]]] = {}


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
