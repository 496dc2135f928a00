"""Which blobs a snapshot needs: stream and bundle roots here, other root types (file trees, …)
through ``ROOT_WALKERS``, registered by the source that defines them. Some other manifests hold
content too (archived AOF segments): their kinds are in ``ROOTED_KINDS``, and ``LiveSet`` — what
prune must keep — includes them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from ..core.errors import IntegrityError, MissingBlob
from . import snapshots
from .index import Index
from .reader import read_blob
from .repo import Repository
from .snapshots import Snapshot

# root type → function(repo, root) yielding every blob id the root references
ROOT_WALKERS: dict[str, Callable[[Repository, dict[str, Any]], Iterator[bytes]]] = {}
# manifest kinds whose documents hold a content root under "root"; named here, not registered on
# import, so that prune never drops their data because a source module was not loaded
ROOTED_KINDS: set[str] = {"redis_aof"}
_REF_SIZE = 36  # a list blob record: id:32 length:u32 (streams.py)


def _stream_blobs(repo: Repository, root: dict[str, Any]) -> Iterator[bytes]:
    """The list blobs and the data blobs of a stream root, decoded by slicing (no object per record)."""
    if root.get("type") != "stream":
        raise IntegrityError(f"snapshot root is a {root.get('type')!r}, not a stream")
    for hex_id in root["lists"]:
        list_id = bytes.fromhex(hex_id)
        yield list_id
        data = read_blob(repo, list_id)
        if len(data) % _REF_SIZE:
            raise IntegrityError(f"list {hex_id[:16]}: malformed list blob")
        yield from (data[i : i + 32] for i in range(0, len(data), _REF_SIZE))


def root_blobs(repo: Repository, root: dict[str, Any], where: str) -> Iterator[bytes]:
    """Every blob id a content root references (list and tree blobs included); may repeat ids."""
    kind = root.get("type")
    if kind == "stream":
        yield from _stream_blobs(repo, root)
    elif kind == "bundle":
        for part in root["parts"].values():
            yield from _stream_blobs(repo, part)
    elif kind in ROOT_WALKERS:
        yield from ROOT_WALKERS[kind](repo, root)
    else:
        raise IntegrityError(f"{where}: unknown root type {kind!r}")


def referenced_blobs(repo: Repository, snap: Snapshot) -> Iterator[bytes]:
    """Every blob id ``snap`` references (list and tree blobs included); may repeat ids."""
    return root_blobs(repo, snap.root, f"snapshot {snap.short_id}")


class LiveSet:
    """Blobs that must be kept, as one flag byte per index entry (the preferred copy of each blob):
    10 MB for 10 million blobs, where a ``set[bytes]`` would take ~900 MB. Ids no index entry has
    are counted in ``unindexed`` (``drkit check`` reports them)."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.flags = bytearray(index.entries)
        self._moved = len(index.displaced)  # preference moves before the first flag need no carrying
        self.unindexed = 0
        self.seen: set[str] = set()  # documents (snapshots, rooted manifests, tombstones) walked

    def grow(self) -> None:
        """Make room for entries the index gained since (new packs get entry numbers at the end); a
        live blob whose preferred copy moved to a new entry stays live there."""
        if len(self.flags) < self.index.entries:
            self.flags.extend(bytes(self.index.entries - len(self.flags)))
        self.index.hash_pending()  # preferences move now, if at all
        moved = self.index.displaced
        for old, new in moved[self._moved :]:
            if self.flags[old]:
                self.flags[new] = 1
        self._moved = len(moved)

    def add(self, ids: Iterator[bytes]) -> None:
        self.grow()
        find, flags = self.index.find, self.flags
        for blob_id in ids:
            e = find(blob_id)
            if e >= 0:
                flags[e] = 1
            else:
                self.unindexed += 1

    def __contains__(self, blob_id: bytes) -> bool:
        e = self.index.find(blob_id)
        return e >= 0 and e < len(self.flags) and bool(self.flags[e])

    def __len__(self) -> int:
        return self.flags.count(1)

    def add_documents(self, repo: Repository, tombstone_roots: dict[str, tuple[dict[str, Any], ...]]) -> None:
        """Walk every snapshot, rooted manifest and given tombstone not walked before."""
        for snap in snapshots.load_all(repo.manifests):
            if snap.id not in self.seen:
                self.seen.add(snap.id)
                self._walk(repo, partial(referenced_blobs, repo, snap))
        for kind in sorted(ROOTED_KINDS):
            for doc_id, doc in repo.manifests.find(kind):
                if f"{kind}/{doc_id}" not in self.seen:
                    self.seen.add(f"{kind}/{doc_id}")
                    self._walk(repo, partial(root_blobs, repo, doc["root"], f"{kind} {doc_id[:8]}"))
        for doc_id, roots in tombstone_roots.items():
            if f"forgotten/{doc_id}" not in self.seen:
                self.seen.add(f"forgotten/{doc_id}")
                for root in roots:
                    self._walk(repo, partial(root_blobs, repo, root, f"forget record {doc_id[:8]}"))

    def _walk(self, repo: Repository, blobs: Callable[[], Iterator[bytes]]) -> None:
        """Add one document's blobs. A document written after the index was loaded (a backup that
        finished meanwhile) may name blobs of index objects not loaded yet: load those and walk again."""
        before = self.unindexed
        missing: MissingBlob | None = None
        try:
            self.add(blobs())
            if self.unindexed == before:
                return
        except MissingBlob as exc:
            missing = exc
        if not repo.load_new_indexes():
            if missing is not None:
                raise missing  # no index object came: the data is missing
            return  # the ids stay counted as unindexed (drkit check reports them)
        self.unindexed = before
        self.add(blobs())
