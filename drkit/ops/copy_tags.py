"""Which snapshots a copy target already holds, and carrying a retag over to it.

`drkit tag` rewrites a snapshot document under a new id (``meta.original`` names the id first
written). A copy recognised its earlier copies by the source id alone, so after a retag it copied the
snapshot again: a second document for the same content in the target. A copy now records in
``meta.copy_of`` both the source id and the source's original id, and an earlier copy is found by
either (copies made before this record only the source id, which a later retag keeps as
``meta.original``); by the original id only while the snapshot it was made of is gone from the source
(``copy_of``). When the tags changed in the source since (``copy_of.tags`` records them at
copy time), the target's copy is retagged the way `drkit tag` does it: a new document with the new
tags first, then the old one deleted, under a maintenance lock (no forget or prune meanwhile); tags
changed in the target only are left alone; under object lock, or while another forget or prune runs, the copy
keeps its old tags and the result says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..core.errors import LockFailed, LockLost
from ..repository import snapshots
from ..repository.format import snapshot_key
from ..repository.immutability import when
from ..repository.repo import Repository
from ..repository.snapshots import Snapshot
from .facts import repoint_facts


def original_of(snap: Snapshot) -> str:
    """The id ``snap`` was first written under (before any retag)."""
    original = snap.meta.get("original")
    return original if isinstance(original, str) and original else snap.id


def copy_record(source: Repository, snap: Snapshot) -> dict[str, Any]:
    """The ``meta.copy_of`` of a copy of ``snap`` (with the tags it had, to tell a later retag in the
    source from one made in the target, which a copy leaves alone)."""
    return {"repository": source.config.id, "snapshot": snap.id, "original": original_of(snap), "tags": list(snap.tags)}


def _source_retagged(snap: Snapshot, copy: Snapshot) -> bool:
    """Whether ``snap``'s tags changed since ``copy`` was made of it (copies without the record: whether
    they differ at all)."""
    origin = copy.meta.get("copy_of")
    was = origin.get("tags") if isinstance(origin, dict) else None
    return list(snap.tags) != (was if isinstance(was, list) else list(copy.tags))


@dataclass
class Copies:
    """The target's copies from one source repository: by the source snapshot each was made of (or retagged
    to), and by the source's original id."""

    made_of: dict[str, Snapshot] = field(default_factory=dict)
    by_original: dict[str, Snapshot] = field(default_factory=dict)


def earlier_copies(target: Repository, source_id: str) -> Copies:
    """The target's copies of snapshots of source repository ``source_id``."""
    found = Copies()
    for snap in snapshots.load_all(target.manifests):
        origin = snap.meta.get("copy_of")
        if not isinstance(origin, dict) or origin.get("repository") != source_id:
            continue
        if isinstance(made_of := origin.get("snapshot"), str) and made_of:
            found.made_of.setdefault(made_of, snap)
        for key in (origin.get("original"), snap.meta.get("original")):
            if isinstance(key, str) and key:
                found.by_original.setdefault(key, snap)
    return found


def copy_of(earlier: Copies, snap: Snapshot, in_source: set[str]) -> Snapshot | None:
    """The target's earlier copy of source snapshot ``snap``: the one made of it, else one of a snapshot with
    its original id that is no longer in the source (``in_source``: the source's snapshot ids), i.e. retagged
    into ``snap``. A copy of a snapshot still there stands for that one: an interrupted `drkit tag` leaves old
    and new document, and a repair keeps its original's ``meta``; matched to both, one copy was retagged to
    each's tags in turn, every run."""
    if (found := earlier.made_of.get(snap.id)) is not None:
        return found
    found = earlier.by_original.get(original_of(snap))
    if found is None or found.meta.get("repaired_from") != snap.meta.get("repaired_from"):
        return None
    origin = found.meta.get("copy_of")
    return found if isinstance(origin, dict) and origin.get("snapshot") not in in_source else None


def carry_tags(
    source: Repository, target: Repository, pairs: list[tuple[Snapshot, Snapshot]]
) -> tuple[dict[str, str], dict[str, str]]:
    """Give each target copy (second of a pair) its source snapshot's tags when they changed in the source
    since the copy (tags changed in the target are left alone). Returns source id → new
    target id of each copy retagged, and source id → why for each copy that keeps its old tags (under
    object lock; all of them while another forget or prune holds the target)."""
    todo = [(s, c) for s, c in pairs if _source_retagged(s, c) and list(s.tags) != list(c.tags)]
    done: dict[str, str] = {}
    kept: dict[str, str] = {}
    if not todo:
        return done, kept
    try:
        with target.lock(maintenance=True, purpose="copy"):
            for snap, old in todo:
                if target.manifests.get_if_present(snapshots.KIND, old.id) is None:  # read before this lock
                    kept[snap.id] = f"its copy {old.short_id} was forgotten in the target meanwhile"
                    continue  # written again it would come back: a forget undone
                until = target.locked_until(snapshot_key(old.id))
                if until is not None:
                    kept[snap.id] = f"its copy {old.short_id} is locked until {when(until)} (immutable repository)"
                    continue
                meta = {**old.meta, "copy_of": copy_record(source, snap), "original": original_of(old)}
                new = snapshots.save(target.manifests, replace(old, tags=list(snap.tags), meta=meta, id=""))
                repoint_facts(target, old.id, new.id)  # before the old one goes, as `drkit tag` does
                target.manifests.delete(snapshots.KIND, old.id)
                done[snap.id] = new.id
    except LockLost:
        raise
    except LockFailed as exc:  # busy: the copies are there, only their tags wait for the next copy
        kept.update({s.id: f"the target is busy: {exc.message}" for s, _ in todo if s.id not in done})
    return done, kept
