"""The stream API every source uses: ``backup_stream`` stores one byte stream as a snapshot,
``restore_stream`` writes it back, verified.

A stream's content is a sequence of data blobs. Its root lists them in *list blobs* (tree
blobs of ``id:32 length:u32le`` records), so a snapshot stays small however large the stream is.
The list is cut where a blob id says so (content-defined, ``LIST_CUT`` records on average, more for
streams so long that the root would hold more than ``LIST_TARGET`` list ids; pieces between
``LIST_MIN`` and ``LIST_FANOUT`` records): a stretch of the stream that did not change from one backup to
the next is listed by the same list blobs, stored once. Cut every 65,536 records, the one list
blob of a 513 MB `pg_dump` in 64 KiB chunks (290 KB of incompressible ids) was stored again every
day, a quarter of what a day of localized changes uploaded. Readers take any cut.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO

from ..core import clock
from ..core.errors import IntegrityError
from . import snapshots
from .pack import BLOB_TREE
from .reader import read_blob
from .repo import Repository
from .runs import write_blobs
from .snapshots import Snapshot
from .writer import BlobRef, BlobWriter

LIST_FANOUT = 65536  # records per list blob, at most
LIST_CUT = 512  # on average, for streams of up to LIST_CUT * LIST_TARGET records
LIST_TARGET = 256  # list blobs of a longer stream: about this many (the snapshot holds their ids)
LIST_MIN = 64  # at least (but the last), so a run of one repeated blob cannot cut every record
_REF = struct.Struct("<32sI")


def _encode_list(refs: list[BlobRef]) -> bytes:
    return b"".join(_REF.pack(r.id, r.length) for r in refs)


def _decode_list(data: bytes, where: str) -> list[BlobRef]:
    if len(data) % _REF.size:
        raise IntegrityError(f"{where}: malformed list blob")
    return [BlobRef(*_REF.unpack_from(data, off)) for off in range(0, len(data), _REF.size)]


def list_cut(records: int) -> int:
    """The average piece for a list of ``records``: ``LIST_CUT``, or the power of two that keeps
    it near ``LIST_TARGET`` pieces (so a stream crossing such a size is cut anew, once)."""
    return min(LIST_FANOUT, max(LIST_CUT, 1 << (records // LIST_TARGET).bit_length()))


def split_refs(refs: list[BlobRef]) -> Iterator[list[BlobRef]]:
    """``refs`` in pieces cut after a record whose blob id is 0 modulo ``list_cut`` (ids are keyed
    hashes: uniform), within ``LIST_MIN``..``LIST_FANOUT`` records."""
    mask = list_cut(len(refs)) - 1
    start = 0
    for i, ref in enumerate(refs):
        n = i + 1 - start
        if n >= LIST_FANOUT or (n >= LIST_MIN and not int.from_bytes(ref.id[:4], "little") & mask):
            yield refs[start : i + 1]
            start = i + 1
    if start < len(refs):
        yield refs[start:]


def store_refs(writer: BlobWriter, refs: list[BlobRef]) -> list[str]:
    """Store ``refs`` as list blobs; return their hex ids."""
    return [writer.add_blob(BLOB_TREE, _encode_list(piece)).hex() for piece in split_refs(refs)]


def iter_stream_ids(repo: Repository, root: dict[str, Any]) -> Iterator[bytes]:
    if root.get("type") != "stream":
        raise IntegrityError(f"snapshot root is a {root.get('type')!r}, not a stream")
    for hex_id in root["lists"]:
        for ref in _decode_list(read_blob(repo, bytes.fromhex(hex_id)), f"list {hex_id[:16]}"):
            yield ref.id


@dataclass(frozen=True)
class SourceRef:
    """What a snapshot is of: source kind (stdin, files, postgres, redis), name, tags, metadata."""

    kind: str
    name: str
    tags: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def backup_stream(
    repo: Repository,
    source: SourceRef,
    readable: BinaryIO,
    *,
    before_commit: Callable[[], None] | None = None,
    progress: Callable[[int], None] | None = None,
    started: str | None = None,
) -> Snapshot:
    """Store ``readable`` and write its snapshot: packs, then index, then the snapshot.
    ``before_commit`` runs after the data is durable and before the snapshot is written: it
    raises to veto the snapshot (e.g. the producing command exited non-zero). ``started``: the
    snapshot's time when the source began producing before ``readable`` was handed over."""
    start = started or clock.utcnow().isoformat()
    with BlobWriter(repo=repo, progress=progress) as writer:
        refs = writer.write_stream(readable)
        lists = store_refs(writer, refs)
        writer.flush()
    if before_commit is not None:
        before_commit()
    size = sum(r.length for r in refs)
    snap = Snapshot(
        source_kind=source.kind,
        source_name=source.name,
        time=start,
        end_time=clock.utcnow().isoformat(),
        root={"type": "stream", "lists": lists, "size": size},
        tags=list(source.tags),
        stats=asdict(writer.stats),
        meta=dict(source.meta),
    )
    return snapshots.save(repo.manifests, snap)


def restore_stream(repo: Repository, snap: Snapshot, writable: BinaryIO) -> int:
    """Write the snapshot's stream to ``writable``; every blob verified first. Returns bytes."""
    written = write_blobs(repo, iter_stream_ids(repo, snap.root), writable)
    if written != snap.root.get("size", written):
        raise IntegrityError(f"snapshot {snap.short_id}: restored {written} bytes, expected {snap.root['size']}")
    return written


class BundleWriter:
    """Several named streams in one snapshot (e.g. a database dump plus its globals, or a base
    backup's data and WAL tars). Root: ``{"type": "bundle", "parts": {name: stream root}}``.

        with BundleWriter(repo) as bundle:
            bundle.add("dump", proc.stdout)
            bundle.add("globals", io.BytesIO(globals_sql))
            snap = bundle.commit(SourceRef("postgres", "main", meta={...}))
    """

    def __init__(self, repo: Repository, progress: Callable[[int], None] | None = None) -> None:
        self.repo = repo
        self.writer = BlobWriter(repo=repo, progress=progress)
        self.parts: dict[str, dict[str, Any]] = {}
        self.start = clock.utcnow().isoformat()

    def add(self, name: str, readable: BinaryIO) -> dict[str, Any]:
        refs = self.writer.write_stream(readable)
        root = {"type": "stream", "lists": store_refs(self.writer, refs), "size": sum(r.length for r in refs)}
        self.parts[name] = root
        return root

    def commit(self, source: SourceRef, *, before_commit: Callable[[], None] | None = None) -> Snapshot:
        """Flush packs and index, run ``before_commit`` (which may veto), then write the snapshot."""
        self.writer.flush()
        if before_commit is not None:
            before_commit()
        snap = Snapshot(
            source_kind=source.kind,
            source_name=source.name,
            time=self.start,
            end_time=clock.utcnow().isoformat(),
            root={"type": "bundle", "parts": self.parts},
            tags=list(source.tags),
            stats=asdict(self.writer.stats),
            meta=dict(source.meta),
        )
        return snapshots.save(self.repo.manifests, snap)

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        self.writer.__exit__(kind, exc, tb)  # closes; after a failure, indexes the packs uploaded


def part_root(snap: Snapshot, name: str) -> dict[str, Any]:
    """The stream root of one named part of a bundle snapshot."""
    parts = snap.root.get("parts", {}) if snap.root.get("type") == "bundle" else {}
    if name not in parts:
        raise IntegrityError(f"snapshot {snap.short_id} has no part {name!r}")
    return dict(parts[name])


def restore_part(repo: Repository, snap: Snapshot, name: str, writable: BinaryIO) -> int:
    """Write one named part of a bundle snapshot; every blob verified."""
    root = part_root(snap, name)
    written = write_blobs(repo, iter_stream_ids(repo, root), writable)
    if written != root["size"]:
        raise IntegrityError(f"snapshot {snap.short_id} part {name}: restored {written} bytes, expected {root['size']}")
    return written
