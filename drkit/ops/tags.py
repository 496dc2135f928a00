"""`drkit tag`: change the tags of snapshots.

A snapshot document is never rewritten in place (its id is the hash of its sealed bytes), so, as restic
does, a retag writes a *new* snapshot document with the new tags, every other field unchanged and
``meta.original`` naming the id of the snapshot as first written (kept across later retags), then deletes
the old document. Order: the new document first, so an interruption leaves both (the same content listed
twice), never neither. The root is unchanged and named by the new document before the old one goes, so
prune never loses the data (no tombstone is needed: a backup that read the old document as its parent
reads the same root). The snapshot's backup-time facts (``ops.facts``) are recorded for the new id
too, before the old document goes, so a drill of it still compares with them. It holds a maintenance
lock, as forget does: no forget or prune runs meanwhile, backups may. In an immutable repository a
snapshot whose document is under retention is refused before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..core.errors import StorageError, UsageError
from ..repository import snapshots
from ..repository.format import snapshot_key
from ..repository.immutability import when
from ..repository.repo import Repository
from ..repository.snapshots import Snapshot
from .facts import repoint_facts


@dataclass(frozen=True)
class TagChange:
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    set: tuple[str, ...] | None = None  # replaces every tag (then add/remove apply)

    def apply(self, tags: list[str]) -> list[str]:
        out = list(dict.fromkeys(self.set if self.set is not None else tags))
        out += [t for t in dict.fromkeys(self.add) if t not in out]
        return [t for t in out if t not in self.remove]


@dataclass
class Retagged:
    old: Snapshot
    new: Snapshot | None  # None: the tags were already as asked, nothing written


def _check_change(change: TagChange) -> None:
    if change.set is None and not change.add and not change.remove:
        raise UsageError("give --add, --remove or --set", hint="e.g. drkit tag latest --add keep")
    for tag in (*change.add, *change.remove, *(change.set or ())):
        if not tag or "," in tag or tag != tag.strip():
            raise UsageError(f"invalid tag {tag!r}: empty, with a comma or surrounding spaces")


def retag(repo: Repository, refs: list[str], change: TagChange) -> list[Retagged]:
    """Apply ``change`` to the snapshots ``refs`` name (id prefixes or ``latest``)."""
    _check_change(change)
    with repo.lock(maintenance=True, purpose="tag"):
        found = {s.id: s for s in (snapshots.find(repo.manifests, ref) for ref in refs)}
        plan = [Retagged(s, None) for s in found.values()]
        todo = [p for p in plan if change.apply(p.old.tags) != p.old.tags]
        for p in todo:  # every refusal before the first write
            until = repo.locked_until(snapshot_key(p.old.id))
            if until is not None:
                raise StorageError(
                    f"snapshot {p.old.short_id} is locked until {when(until)} (immutable repository)",
                    hint="its tags can change once its retention ends; nothing was changed",
                )
        for p in todo:
            original = p.old.meta.get("original")
            meta = {**p.old.meta, "original": original if isinstance(original, str) and original else p.old.id}
            p.new = snapshots.save(repo.manifests, replace(p.old, tags=change.apply(p.old.tags), meta=meta, id=""))
            repoint_facts(repo, p.old.id, p.new.id)  # before the old one goes: drills compare against them
            repo.manifests.delete(snapshots.KIND, p.old.id)
    return plan
