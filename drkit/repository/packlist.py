"""Which indexed packs the storage still holds (docs/repository-safety.md, "Lost packs").

A pack can be lost outside drkit (a deleted object, a restored bucket snapshot, a disk error). The
index still names it, so a writer that trusted the index alone deduplicated into it and wrote
snapshots that could not be restored, every backup after the loss. ``BlobWriter`` lists the packs
(one LIST of ``data/``, cheap next to a backup) when it starts and again before the index it writes
is final: a blob whose indexed copy is in a lost pack is never referenced -- the backup fails with
exit 13 and a hint to run ``drkit repair index``, which drops the lost packs from the index so the next
backup stores that data anew.
"""

from __future__ import annotations

from ..core.errors import IntegrityError
from .format import DATA_PREFIX, id_from_key
from .repo import Repository
from .storage_errors import storage_errors

REPAIR_HINT = "run `drkit repair index` (it drops lost packs from the index), then back up again"


def stored_packs(repo: Repository) -> dict[str, int]:
    """Every pack in the storage: id → size (one LIST of ``data/``)."""
    with storage_errors():
        return {id_from_key(i.key): i.size for i in repo.backend.list(DATA_PREFIX)}


def lost_packs(repo: Repository, stored: dict[str, int]) -> set[str]:
    """Indexed packs the storage does not hold: listed by an index object ``repo`` still counts, and not
    pending deletion (a prune may delete those; one this process deleted is listed by no such object)."""
    index, current = repo.index, repo.index_ids
    return {
        p
        for p in index.pack_sizes
        if p not in stored and p not in index.excluded and any(src in current for src in index.listed_by.get(p, ()))
    }


class LostPack(IntegrityError):
    """A writer was about to reference a blob whose only indexed copy is in a lost pack."""

    def __init__(self, pack_id: str, during: bool = False) -> None:
        when = "disappeared from the storage during this run" if during else "is indexed but missing from the storage"
        super().__init__(
            f"pack {pack_id[:16]} {when}; the snapshot would reference it and could not be "
            f"restored, so none is written",
            hint=REPAIR_HINT,
        )
