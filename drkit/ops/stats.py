"""`drkit stats`: how much a restore writes, how much the repository stores for it, and the ratios.

*restore size* is what restoring writes: for a files snapshot the sizes of its regular files (a hard-linked
file once, as ``du`` counts it), for a stream the stream's size, for a bundle the sum of its parts. *raw data*
is what the repository stores for the blobs the snapshots reference, each unique blob once (tree and list
blobs included), as stored (compressed, encrypted) and uncompressed; ``dedup_ratio`` is restore size over
uncompressed unique data, ``compression_ratio`` uncompressed over stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..repository import snapshots
from ..repository.references import root_blobs
from ..repository.repo import Repository
from ..repository.snapshots import Snapshot, SnapshotFilter
from ..sources.files import ROOT_TYPE, root_tree, walk
from ..sources.files.tree import DIR, FILE

MODES = ("restore-size", "raw-data")


@dataclass(kw_only=True)
class Sizes:
    snapshots: int = 0
    restore_size: int = 0
    files: int = 0
    dirs: int = 0
    blobs: int = 0
    raw_data: int = 0  # stored bytes of the unique blobs
    uncompressed: int = 0  # their bytes before compression and encryption
    missing_blobs: int = 0  # referenced but in no index object (`drkit check` reports them)

    def to_doc(self, mode: str) -> dict[str, Any]:
        doc = asdict(self)
        if mode == "restore-size":
            for key in ("blobs", "raw_data", "uncompressed", "missing_blobs"):
                doc.pop(key)
            return doc
        doc["dedup_ratio"] = round(self.restore_size / self.uncompressed, 3) if self.uncompressed else None
        doc["compression_ratio"] = round(self.uncompressed / self.raw_data, 3) if self.raw_data else None
        return doc


@dataclass(kw_only=True)
class _Unique:
    """Counts each blob once, by index entry (one byte per entry rather than a set of ids)."""

    repo: Repository
    sizes: Sizes
    also: _Unique | None = None  # the whole selection's count, fed the same ids
    seen: bytearray = field(default_factory=bytearray)

    missing: set[bytes] = field(default_factory=set)  # rare: a set of the distinct ones is cheap

    def add(self, ids: Iterable[bytes]) -> None:
        index = self.repo.index
        for blob_id in ids:
            e = index.find(blob_id)
            self.count(e, blob_id)
            if self.also is not None:
                self.also.count(e, blob_id)

    def count(self, e: int, blob_id: bytes) -> None:
        if e < 0:  # each missing blob once, as every other count (not each reference to it)
            if blob_id not in self.missing:
                self.missing.add(blob_id)
                self.sizes.missing_blobs += 1
            return
        if len(self.seen) <= e:
            self.seen.extend(bytes(self.repo.index.entries - len(self.seen)))
        if not self.seen[e]:
            self.seen[e] = 1
            _, _, _, length, raw = self.repo.index.entry_fields(e)
            self.sizes.blobs += 1
            self.sizes.raw_data += length
            self.sizes.uncompressed += raw


def _files_size(repo: Repository, snap: Snapshot, sizes: Sizes, unique: _Unique | None) -> None:
    tree = root_tree(snap.root, f"snapshot {snap.short_id}")
    links: set[tuple[int, int]] = set()
    if unique is not None:
        unique.add([bytes.fromhex(tree)])
    for _, node in walk(repo, tree):
        if node.type == DIR:
            sizes.dirs += 1
            if unique is not None and node.subtree:
                unique.add([bytes.fromhex(node.subtree)])
        elif node.type == FILE:
            sizes.files += 1
            if node.links > 1:
                if (node.dev, node.inode) in links:
                    continue
                links.add((node.dev, node.inode))
            sizes.restore_size += node.size
            if unique is not None:
                unique.add(bytes.fromhex(h) for h in node.content)


def _measure(repo: Repository, snap: Snapshot, sizes: Sizes, unique: _Unique | None) -> None:
    sizes.snapshots += 1
    kind = snap.root.get("type")
    if kind == ROOT_TYPE:
        _files_size(repo, snap, sizes, unique)
        return
    if kind == "stream":
        sizes.restore_size += int(snap.root.get("size", 0))
    elif kind == "bundle":
        sizes.restore_size += sum(int(p.get("size", 0)) for p in snap.root.get("parts", {}).values())
    if unique is not None:
        unique.add(root_blobs(repo, snap.root, f"snapshot {snap.short_id}"))


@dataclass
class StatsResult:
    mode: str
    total: Sizes
    each: list[tuple[Snapshot, Sizes]]


def stats(repo: Repository, refs: list[str], mode: str, match: SnapshotFilter | None = None) -> StatsResult:
    """Sizes of the snapshots ``refs`` names (default: every snapshot ``match`` selects), each and together."""
    with repo.lock(purpose="stats"):
        if refs:
            chosen = list({s.id: s for s in (snapshots.find(repo.manifests, r, match=match) for r in refs)}.values())
        else:
            chosen = [s for s in snapshots.load_all(repo.manifests) if not match or match.matches(s)]
        total = Sizes()
        together = _Unique(repo=repo, sizes=total) if mode == "raw-data" else None
        each = []
        for snap in chosen:
            sizes = Sizes()
            _measure(
                repo, snap, sizes, _Unique(repo=repo, sizes=sizes, also=together) if together is not None else None
            )
            for key in ("snapshots", "restore_size", "files", "dirs"):
                setattr(total, key, getattr(total, key) + getattr(sizes, key))
            each.append((snap, sizes))
    return StatsResult(mode, total, each)
