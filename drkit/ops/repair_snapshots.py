"""``drkit repair snapshots``: new snapshots without the damaged parts of old ones (like restic's).

For each snapshot (all, or the ones named): a data blob is *usable* when an index entry names it and
its pack is stored at the indexed size (with ``read_data``: and it reads back, decrypts and hashes to
its id — a bit flip inside a stored pack); a tree or list blob must always read back intact. Run
``drkit repair index`` first when index objects are damaged (as restic asks too).

- A files snapshot whose tree reaches an unusable blob gets a new snapshot (``sources.files.salvage``):
  the damaged directories and files dropped whole, never truncated; same time, host, source and
  paths; tagged ``repaired``; ``meta.repaired_from`` names the original and ``meta.repair_dropped``
  the paths dropped. Write order as a backup: new tree blobs in packs, the index, then the snapshots.
- A stream snapshot (a PostgreSQL dump or base backup, a Redis RDB/AOF, standard input) with an
  unusable blob cannot be repaired: a dump or RDB with a hole does not restore, and one with the hole
  cut out would restore wrong data. It is reported and left as it is (the data may come back: a
  pack restored from a copy of the bucket, ``drkit copy`` from a second repository); ``drkit forget
  ID`` removes it when it will not.
- A snapshot whose manifest cannot be read cannot be repaired either (reported; ``forget ID``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..core.errors import IntegrityError
from ..repository import snapshots
from ..repository.pack import BLOB_TREE
from ..repository.packlist import stored_packs
from ..repository.reader import read_blob
from ..repository.references import referenced_blobs
from ..repository.repo import Repository
from ..repository.snapshots import Snapshot
from ..repository.writer import BlobWriter
from ..sources.files import ROOT_TYPE
from ..sources.files.salvage import BlobOk, TreeWriter, salvage_tree
from ..sources.files.tree import root_tree

REPAIRED_TAG = "repaired"
_MAX_LISTED = 1000  # dropped paths recorded in the new snapshot (all are counted)


@dataclass(kw_only=True)
class Outcome:
    snapshot: Snapshot
    status: str  # intact | repaired | unrepairable
    dropped: list[str] = field(default_factory=list)  # files: "path: why"
    reason: str = ""  # unrepairable: why
    tree: str = ""  # repaired: the new root tree
    new_id: str | None = None  # repaired (not in a dry run): the new snapshot


@dataclass
class SnapshotRepairReport:
    outcomes: list[Outcome]
    dry_run: bool
    unreadable: list[str] = field(default_factory=list)  # snapshot manifests that cannot be read

    def of(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]


def _blob_check(repo: Repository, read_data: bool) -> BlobOk:
    stored, sizes = stored_packs(repo), repo.index.pack_sizes
    verdicts: dict[bytes, bool] = {}  # read_data: each blob read once, however many files share it

    def readable(blob_id: bytes) -> bool:
        try:
            read_blob(repo, blob_id)
        except IntegrityError:
            return False
        return True

    def ok(blob_id: bytes) -> bool:
        loc = repo.index.get(blob_id)
        if loc is None or stored.get(loc.pack_id) != sizes.get(loc.pack_id):
            return False
        if not read_data:
            return True
        if blob_id not in verdicts:
            verdicts[blob_id] = readable(blob_id)
        return verdicts[blob_id]

    return ok


def _stream_damage(repo: Repository, snap: Snapshot, blob_ok: BlobOk) -> str:
    """Why a non-files snapshot cannot be restored whole ('' if it can, as far as the index tells)."""
    try:
        bad = sum(1 for b in referenced_blobs(repo, snap) if not blob_ok(b))
    except IntegrityError as exc:
        return exc.message
    return f"{bad} blobs missing" if bad else ""


def _one(repo: Repository, snap: Snapshot, blob_ok: BlobOk, write_tree: TreeWriter) -> Outcome:
    if snap.root.get("type") != ROOT_TYPE:
        why = _stream_damage(repo, snap, blob_ok)
        if not why:
            return Outcome(snapshot=snap, status="intact")
        return Outcome(snapshot=snap, status="unrepairable", reason=f"a stream snapshot cannot be repaired ({why})")
    salvage = salvage_tree(repo, root_tree(snap.root, f"snapshot {snap.short_id}"), blob_ok, write_tree)
    if salvage.tree is None:
        return Outcome(
            snapshot=snap, status="unrepairable", dropped=salvage.dropped, reason="its root tree cannot be read"
        )
    if not salvage.changed:
        return Outcome(snapshot=snap, status="intact")
    return Outcome(snapshot=snap, status="repaired", dropped=salvage.dropped, tree=salvage.tree)


def _repaired(snap: Snapshot, tree: str, dropped: list[str]) -> Snapshot:
    return Snapshot(
        source_kind=snap.source_kind,
        source_name=snap.source_name,
        root={**snap.root, "tree": tree},
        time=snap.time,
        end_time=snap.end_time,
        host=snap.host,
        tags=sorted({*snap.tags, REPAIRED_TAG}),
        parent=snap.parent,
        stats=snap.stats,
        meta={
            **snap.meta,
            "repaired_from": snap.id,
            "repair_dropped": dropped[:_MAX_LISTED],
            "repair_dropped_count": len(dropped),
        },
    )


def repair_snapshots(
    repo: Repository, refs: Sequence[str] = (), *, dry_run: bool = False, read_data: bool = False
) -> SnapshotRepairReport:
    """Repair the named snapshots (default: every one) as the module docstring says."""
    with repo.lock(purpose="repair snapshots"):
        chosen = [snapshots.find(repo.manifests, r) for r in refs] if refs else snapshots.load_all(repo.manifests)
        report = SnapshotRepairReport([], dry_run, snapshots.damaged_since(repo.manifests, None))
        blob_ok = _blob_check(repo, read_data)
        with BlobWriter(repo=repo) as writer:
            write_tree: TreeWriter = repo.hasher.digest if dry_run else (lambda d: writer.add_blob(BLOB_TREE, d))
            report.outcomes = [_one(repo, s, blob_ok, write_tree) for s in chosen]
            if dry_run or not report.of("repaired"):
                return report
            writer.flush()  # packs, then the index, then the snapshots
        done = _earlier_repairs(snapshots.load_all(repo.manifests))
        for o in report.of("repaired"):
            o.new_id = done.get((o.snapshot.id, o.tree))
            if o.new_id is None:
                repo.require_lock("write a repaired snapshot")
                o.new_id = snapshots.save(repo.manifests, _repaired(o.snapshot, o.tree, o.dropped)).id
    return report


def _earlier_repairs(every: list[Snapshot]) -> dict[tuple[str, str], str]:
    """(original id, repaired root tree) → the repaired snapshot an earlier run wrote. A repeated run (the
    original kept: no --forget) names it again instead of writing one more copy: a snapshot id hashes
    sealed bytes, so a second identical repair would be a second snapshot of the same time, and
    ``--keep-last N`` would count every copy."""
    return {(str(s.meta["repaired_from"]), str(s.root.get("tree"))): s.id for s in every if s.meta.get("repaired_from")}
