"""Packs `repair index` kept although they are damaged, for prune to rewrite (``manifests/repack/``).

`repair index` indexes a pack whose sealed header fails authentication from an intact old index
object, and a pack whose content does not hash to its name from its header (its blobs that verify).
Both are 100% live, so prune's usual rule (repack below a live fraction) never rewrote them, and
`check` reported the pack forever. The repair now records them in a ``repack`` document
(``{"packs": [ids], "time": ISO}``); prune repacks each such pack that still holds live blobs once it
has read the pack and verified every live blob in it (authenticated for its id, decompressed, hashed
back to it): the new pack is whole and correctly named, and the damaged one is marked and deleted as
any repacked pack. A pack with a live blob that fails is kept (and named in the prune's report:
`repair index --read-data` leaves that blob out). A document whose packs are all gone is deleted.
"""

from __future__ import annotations

from ..core import clock
from ..core.errors import IntegrityError
from .caps import read_capped
from .format import pack_key
from .manifests import manifest_key
from .reader import open_blob
from .references import LiveSet
from .repo import Repository
from .storage_errors import storage_errors

KIND = "repack"


def request(repo: Repository, packs: list[str]) -> None:
    """Ask prune to rewrite ``packs`` (the repair holds its exclusive lock)."""
    if packs:
        repo.manifests.put(KIND, {"packs": sorted(set(packs)), "time": clock.utcnow().isoformat()})


def requested(repo: Repository) -> dict[str, list[str]]:
    """Pack id → the ids of the documents asking for its rewrite (malformed fields ignored)."""
    out: dict[str, list[str]] = {}
    for doc_id, doc in repo.manifests.find(KIND):
        packs = doc.get("packs")
        for pack_id in packs if isinstance(packs, list) else []:
            if isinstance(pack_id, str):
                out.setdefault(pack_id, []).append(doc_id)
    return out


def unverified(repo: Repository, pack_id: str, live: LiveSet) -> str | None:
    """Why ``pack_id`` may not be rewritten (a live blob that fails verification, or the pack is missing), None
    if each verifies.
    The pack is read once, no more than its indexed size."""
    index, key = repo.index, pack_key(pack_id)
    try:
        with storage_errors():
            data = read_capped(repo.backend, key, index.pack_sizes[pack_id])
    except IntegrityError as exc:  # gone from the storage (or replaced by junk): kept and named, not fatal
        return exc.message
    first, n = index.run(pack_id)
    for e in range(first, first + n):
        if live.flags[e]:
            _, blob_id, offset, length, raw = index.entry_fields(e)
            try:
                open_blob(repo, blob_id, data[offset : offset + length], key, raw)
            except IntegrityError as exc:
                return exc.message
    return None


def drop_done(repo: Repository, requests: dict[str, list[str]], stored: set[str]) -> None:
    """Delete the documents none of whose packs is still stored (one under object lock stays)."""
    docs: dict[str, bool] = {}
    for pack_id, doc_ids in requests.items():
        for doc_id in doc_ids:
            docs[doc_id] = docs.get(doc_id, False) or pack_id in stored
    for doc_id, needed in sorted(docs.items()):
        if not needed and repo.locked_until(manifest_key(KIND, doc_id)) is None:
            repo.manifests.delete(KIND, doc_id)
