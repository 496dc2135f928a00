"""Which indexed packs the storage still holds (docs/repository-safety.md, "Lost packs").

A pack can be lost outside drkit (a deleted object, a restored bucket snapshot, a disk error). The
index still names it, so a writer that trusted the index alone deduplicated into it and wrote
snapshots that could not be restored, every backup after the loss. ``BlobWriter`` notes each indexed
pack it references without storing the blob again, and before its caller writes the snapshot checks
that the storage holds them all (a ``stat`` each for a few, concurrently, else one LIST of ``data/``): if one is
gone the run fails with exit 13 and a hint to run ``drkit repair index``, which drops lost packs from
the index so the next backup stores that data anew.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from storage_backends import NotFound

from ..core.errors import IntegrityError
from .format import DATA_PREFIX, id_from_key, pack_key
from .repo import Repository
from .storage_errors import storage_errors

_STAT_AT_MOST = 16  # packs checked one by one; more: one LIST of data/ (1000 keys a request on S3)
REPAIR_HINT = "run `drkit repair index` (it drops lost packs from the index), then back up again"


def stored_packs(repo: Repository) -> dict[str, int]:
    """Every pack in the storage: id → size (one LIST of ``data/``)."""
    with storage_errors():
        return {id_from_key(i.key): i.size for i in repo.backend.list(DATA_PREFIX)}


def missing_packs(repo: Repository, packs: set[str]) -> set[str]:
    """Which of ``packs`` the storage does not hold at the size the index records (a truncated or
    replaced pack is as lost as a deleted one): a ``stat`` each for a few, else one LIST."""
    sizes = repo.index.pack_sizes
    if len(packs) > _STAT_AT_MOST:
        stored = stored_packs(repo)
        return {p for p in packs if stored.get(p) != sizes.get(p)}

    def lost(pack_id: str) -> bool:
        try:
            return repo.backend.stat(pack_key(pack_id)).size != sizes.get(pack_id)
        except NotFound:
            return True

    if not packs:
        return set()
    ordered = sorted(packs)
    workers = max(1, min(len(ordered), repo.concurrency().reads, repo.backend.capabilities.max_connections))
    with storage_errors(), ThreadPoolExecutor(workers, thread_name_prefix="drkit-packcheck") as pool:
        # concurrently: each stat is a round trip, and a re-run that deduplicated into 16 packs waited for 16
        return {p for p, gone in zip(ordered, pool.map(lost, ordered), strict=True) if gone}


class LostPack(IntegrityError):
    """A writer was about to reference a blob whose indexed copy is in a lost pack."""

    def __init__(self, pack_id: str) -> None:
        super().__init__(
            f"pack {pack_id[:16]} is indexed but missing from the storage (or truncated); the snapshot would reference "
            "it and could not be restored, so none is written",
            hint=REPAIR_HINT,
        )
