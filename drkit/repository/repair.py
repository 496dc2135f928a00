"""``drkit repair index``: rebuild the index from the packs themselves (docs/repository-safety.md).

Every pack ends with a sealed header listing its blobs (pack.py), so the index can be rebuilt when
index objects are lost, damaged, or name packs the storage lost. Under an *exclusive* lock:

1. list ``data/`` and read each pack's trailer and sealed header (two ranged reads; the blobs are not
   read). A pack whose header fails authentication or points outside the pack is reported as damaged;
   an intact old index object that lists it with the same size still gives its entries (the blobs
   themselves may be intact: ``check --read-data`` tells), else it is left out and its blobs are
   missing, which ``check`` reports per snapshot.
   A pack's name is its content's BLAKE3 (FORMAT.md §6), and the sealed header is the same in every
   pack, so a header alone does not bind a pack to its name: a pack copied, renamed or swapped under
   another pack's name would be indexed under that name. Where an intact old index object lists the
   pack with the same size and the very entries its header holds, the backup that hashed the pack
   vouches for it; every other pack (all of them with ``read_data``) is read whole, once, streamed
   (packscan.py): hashed, and each blob its header lists verified against its id. One that does not
   hash to its name is reported (exit 13; its entries are never taken from an old index); its blobs
   that verify are still indexed from its header: each is sealed for its id and verified by it when
   read, so they restore exactly, and left unindexed the pack would be deleted by the next prune as
   an orphan. A blob that does not verify (a flipped byte) is left out of the index and reported as
   dropped: the next backup of the same data stores it anew (docs: "Healing a damaged blob").
2. Packs named by a pending-deletion mark whose pending index object is intact stay as they are (a
   later prune settles them); every other pack is indexed, orphans of interrupted backups included.
3. Write the new index objects, *then* delete the old ones (all but pending and superseded ones); one
   still under object lock is named by a superseded record instead, which readers skip. A crash in
   between leaves both, which is harmless: run the repair again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from storage_backends import NotFound

from ..core import clock
from ..core.errors import DrkitError, IntegrityError
from .format import INDEX_PREFIX, content_id, id_from_key, index_key, pack_key
from .index import SUPERSEDED_KIND, Index, PackRecord, RawPack, decode_raw
from .marks import Mark, delete_if_present, marked_packs, read_marks, read_superseded
from .pack import _ENTRY, TRAILER_SIZE, PackEntry, header_length, parse_header, unpack_entries
from .packlist import stored_packs
from .packscan import scan_pack
from .repack_requests import request
from .repo import Repository
from .storage_errors import storage_errors

log = logging.getLogger(__name__)

_PACK_ID = re.compile(r"[0-9a-f]{64}")
_MAX_HEADER = 64 << 20  # a pack header this large is damage, not data (49 bytes an entry)


@dataclass(kw_only=True)
class RepairReport:
    packs_indexed: int = 0
    blobs_indexed: int = 0
    damaged_packs: list[str] = field(default_factory=list)  # "pack id: reason"
    kept_from_index: list[str] = field(default_factory=list)  # damaged header, entries from an old index object
    pending_packs: int = 0  # left to the pending marks that cover them
    written: list[str] = field(default_factory=list)  # new index objects
    removed: list[str] = field(default_factory=list)  # old index objects deleted
    superseded: list[str] = field(default_factory=list)  # old index objects locked: named superseded
    dropped_blobs: list[str] = field(default_factory=list)  # "blob id: pack key: reason": left unindexed
    rewrite_packs: list[str] = field(default_factory=list)  # indexed although damaged: for prune to rewrite
    dry_run: bool = False


def read_pack_header(repo: Repository, pack_id: str, size: int) -> list[PackEntry]:
    """The entries of a stored pack from its trailer and sealed header; IntegrityError if damaged."""
    if not _PACK_ID.fullmatch(pack_id):
        raise IntegrityError(f"data object {pack_id[:80]!r}: not a pack name")
    key = pack_key(pack_id)
    if size < TRAILER_SIZE:
        raise IntegrityError(f"pack {pack_id}: too short ({size} bytes)")
    with storage_errors():
        trailer = repo.backend.get_range(key, size - TRAILER_SIZE, TRAILER_SIZE)
        if len(trailer) != TRAILER_SIZE:
            raise IntegrityError(f"pack {pack_id}: shorter than listed (changed while read?)")
        n = header_length(trailer)
        if not 0 < n <= min(size - TRAILER_SIZE, _MAX_HEADER):
            raise IntegrityError(f"pack {pack_id}: header length {n} does not fit the pack")
        start = size - TRAILER_SIZE - n
        entries = parse_header(repo.backend.get_range(key, start, n), repo.cipher, pack_id)
    if any(e.offset + e.length > start for e in entries):
        raise IntegrityError(f"pack {pack_id}: header names blobs outside the pack")
    return entries


def bind_to_name(
    repo: Repository,
    pack_id: str,
    size: int,
    entries: list[PackEntry],
    vouched: Mapping[str, RawPack],
    dropped: list[str],
) -> tuple[list[PackEntry], str]:
    """The entries to index and the problem found ("" if none): a pack an old index vouches for is
    taken whole; any other is read once, hashed against its name and each blob verified, and a blob
    that does not verify is left out and named in ``dropped`` (module docstring, step 1)."""
    old = vouched.get(pack_id)
    if old is not None and old.size == size:
        header = b"".join(_ENTRY.pack(e.type, e.id, e.offset, e.length, e.raw_length) for e in entries)
        if bytes(old.entries) == header:
            return entries, ""
    scan = scan_pack(repo, pack_id, size, entries)
    dropped.extend(f"blob {e.id.hex()}: {why}" for e, why in scan.bad)  # why names the pack
    problems = []
    if scan.content_hash != pack_id:
        problems.append(
            f"content hashes to {scan.content_hash[:16]}..., not to its name (a renamed, copied or "
            "swapped pack, or damaged data)"
        )
    if scan.bad:
        problems.append(
            f"{len(scan.bad)} of {len(entries)} blobs fail verification and are left out of the index "
            f"(first: {scan.bad[0][0].id.hex()[:16]}); the next backup of the same data stores them anew"
        )
    elif problems:
        problems.append("every blob verifies: indexed from its header")
    return scan.good, f"pack {pack_id}: " + "; ".join(problems) if problems else ""


def _intact_pending(repo: Repository, marks: dict[str, Mark]) -> set[str]:
    """Marked packs that an intact pending index object lists: left to the marks."""
    covered: set[str] = set()
    for index_id in sorted({i for m in marks.values() for i in m.indexes}):
        try:
            with storage_errors(), repo.backend.get(index_key(index_id)) as f:
                covered.update(p.pack_id for p in decode_raw(f.read(), repo.cipher, index_id))
        except (NotFound, DrkitError) as exc:
            log.warning("pending index object %s is unusable (%s); its packs are indexed anew", index_id[:16], exc)
    return covered & marked_packs(marks.values())


def _old_entries(repo: Repository, index_ids: list[str], wanted: dict[str, int]) -> dict[str, RawPack]:
    """The ``wanted`` packs (id → stored size) as intact old index objects list them with that size
    (damaged or vanished index objects skipped)."""
    found: dict[str, RawPack] = {}
    for index_id in index_ids:
        try:
            with storage_errors(), repo.backend.get(index_key(index_id)) as f:
                sealed = f.read()
            for pack in decode_raw(sealed, repo.cipher, index_id):
                if wanted.get(pack.pack_id) == pack.size and pack.pack_id not in found:
                    found[pack.pack_id] = RawPack(pack.pack_id, pack.size, bytes(pack.entries))
        except (NotFound, DrkitError) as exc:
            log.warning("index object %s is unusable (%s)", index_id[:16], exc)
    return found


def _read_headers(
    repo: Repository, packs: dict[str, int], report: RepairReport, vouched: Mapping[str, RawPack]
) -> tuple[Index, dict[str, int]]:
    """The index of the packs whose headers are intact (a misnamed one reported, and indexed: module
    docstring), and the packs with a damaged header (id → size)."""

    def one(item: tuple[str, int]) -> tuple[str, int, list[PackEntry] | None, str]:
        pack_id, size = item
        try:
            entries = read_pack_header(repo, pack_id, size)
        except IntegrityError as exc:
            return pack_id, size, None, exc.message
        kept, problem = bind_to_name(repo, pack_id, size, entries, vouched, report.dropped_blobs)
        return pack_id, size, kept, problem

    index, damaged = Index(), {}
    workers = max(1, min(8, repo.backend.capabilities.max_connections))
    with ThreadPoolExecutor(workers, thread_name_prefix="drkit-repair") as pool:
        for pack_id, size, entries, problem in pool.map(one, sorted(packs.items())):
            if problem:
                report.damaged_packs.append(problem)
            if entries is None:
                damaged[pack_id] = size
                continue
            if problem and entries:  # misnamed, or blobs left out: indexed, and rewritten by the next prune
                report.rewrite_packs.append(pack_id)
            index.add_pack(PackRecord(pack_id, size, entries))
            report.packs_indexed += 1
            report.blobs_indexed += len(entries)
    report.dropped_blobs.sort()  # appended by the workers in any order
    return index, damaged


def _keep_from_old_index(
    repo: Repository, index: Index, packs: list[RawPack], report: RepairReport, read_data: bool
) -> None:
    """Index packs with a damaged header from an intact old index object's entries (the old index
    knows where the blobs are); with ``read_data`` only the blobs that verify (left out, the pack's
    intact blobs would go missing and the next prune would delete it as an orphan)."""
    for pack in packs:
        if read_data:
            entries = unpack_entries(pack.entries)
            scan = scan_pack(repo, pack.pack_id, pack.size, entries)
            report.dropped_blobs.extend(f"blob {e.id.hex()}: {why}" for e, why in scan.bad)
            index.add_pack(PackRecord(pack.pack_id, pack.size, scan.good))
        else:
            index.add_raw(pack)
        report.kept_from_index.append(pack.pack_id)
        report.rewrite_packs.append(pack.pack_id)


def _retire(repo: Repository, old: list[str], report: RepairReport) -> None:
    """Delete the old index objects; name those still under object lock in a superseded record first."""
    held = [i for i in old if repo.locked_until(index_key(i)) is not None]
    if held:
        repo.manifests.put(SUPERSEDED_KIND, {"indexes": held, "marks": [], "time": clock.utcnow().isoformat()})
    with storage_errors():
        for index_id in old:
            if index_id not in held:
                delete_if_present(repo.backend, index_key(index_id))
    report.removed = [i for i in old if i not in held]
    report.superseded = held


def repair_index(repo: Repository, *, dry_run: bool = False, read_data: bool = False) -> RepairReport:
    """Rebuild the index from the pack headers (module docstring); ``dry_run`` writes and deletes nothing;
    ``read_data`` reads every pack whole (no old index object vouches for one)."""
    report = RepairReport(dry_run=dry_run)
    with repo.lock(exclusive=True, purpose="repair index"):
        superseded = read_superseded(repo.manifests)
        marks = read_marks(repo.manifests, superseded.marks)
        pending_ids = {i for m in marks.values() for i in m.indexes}
        left = _intact_pending(repo, marks)
        stored = stored_packs(repo)
        report.pending_packs = len(left & stored.keys())
        with storage_errors():
            listed = sorted(id_from_key(i.key) for i in repo.backend.list(INDEX_PREFIX))
        old_ids = [i for i in listed if i not in pending_ids and i not in superseded.indexes]
        wanted = {p: s for p, s in stored.items() if p not in left}
        vouched = {} if read_data else _old_entries(repo, old_ids, wanted)
        index, damaged = _read_headers(repo, wanted, report, vouched)
        if read_data and damaged:  # entries for the packs whose header is damaged only: verified below
            vouched = _old_entries(repo, old_ids, damaged)
        _keep_from_old_index(repo, index, [vouched[p] for p in sorted(damaged) if p in vouched], report, read_data)
        for sealed in index.encode(sorted(index.pack_sizes), repo.cipher):  # one object in memory at a time
            report.written.append(content_id(sealed))
            if not dry_run:
                repo.require_lock("write the rebuilt index")
                with storage_errors():
                    repo.backend.put(index_key(report.written[-1]), sealed)
        old = [i for i in old_ids if i not in report.written]
        if dry_run:
            report.removed = old
            return report
        repo.require_lock("remove the old index objects")
        request(repo, report.rewrite_packs)  # before the old index objects go: prune rewrites these packs
        _retire(repo, old, report)
    return report
