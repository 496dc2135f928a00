"""The documents of the two-phase prune (docs/FORMAT.md §13): pending-deletion marks, forget
tombstones, and superseded records.

- A **mark** (manifest kind ``pending``) names packs a prune found unused (or repacked) and packs no
  index named (orphans), the time it was written, and the index objects that hold the marked packs'
  entries. Nothing in it is deleted yet; a later prune deletes what is still unneeded.
- A **tombstone** (kind ``forgotten``) keeps the roots of the snapshots one ``forget`` removed, with
  the time: a backup that read one of them as its parent before it went may still write references
  to its blobs, so prune keeps them live while such a backup may be running.
- A **superseded** record names index objects and settled marks that could not be deleted (object
  lock): readers skip them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from storage_backends import Backend, NotFound

from ..core import clock
from ..core.errors import IntegrityError
from .index import SUPERSEDED_KIND
from .manifests import ManifestStore, manifest_key

PENDING_KIND = "pending"
FORGOTTEN_KIND = "forgotten"


def pending_indexes(marks: Iterable[Mark]) -> set[str]:
    """The index objects that hold the entries of the marks' packs."""
    return {i for m in marks for i in m.indexes}


def marked_packs(marks: Iterable[Mark]) -> set[str]:
    """Every pack the marks name (pending deletion): lookups prefer other copies."""
    return {p for m in marks for p in m.all_packs}


def mark_key(mark_id: str) -> str:
    return manifest_key(PENDING_KIND, mark_id)


def delete_if_present(backend: Backend, key: str) -> None:
    """Delete ``key``; gone already is fine (an earlier, interrupted prune got this far)."""
    try:
        backend.delete(key)
    except NotFound:
        pass


def _strings(doc: dict[str, Any], name: str, where: str) -> tuple[str, ...]:
    value = doc.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise IntegrityError(f"{where}: field {name!r} is not a list of ids")
    return tuple(value)


def _time(doc: dict[str, Any], where: str) -> float:
    value = doc.get("time")
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise IntegrityError(f"{where}: no valid time")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class Mark:
    id: str
    time: float  # epoch seconds, taken before the mark was written
    packs: tuple[str, ...]  # indexed packs: unused, or repacked (their live blobs copied)
    orphans: tuple[str, ...]  # packs no index named
    indexes: tuple[str, ...]  # index objects holding the entries of ``packs``
    size: int = 0  # bytes of all the marked packs

    @property
    def all_packs(self) -> tuple[str, ...]:
        return self.packs + self.orphans

    @classmethod
    def from_doc(cls, mark_id: str, doc: dict[str, Any]) -> Mark:
        where = f"pending mark {mark_id[:16]}"
        size = doc.get("bytes", 0)
        return cls(
            id=mark_id,
            time=_time(doc, where),
            packs=_strings(doc, "packs", where),
            orphans=_strings(doc, "orphans", where),
            indexes=_strings(doc, "indexes", where),
            size=size if isinstance(size, int) else 0,
        )


@dataclass(frozen=True)
class Tombstone:
    id: str
    time: float  # epoch seconds, taken before the snapshots were deleted
    roots: tuple[dict[str, Any], ...]


@dataclass
class Superseded:
    docs: list[str] = field(default_factory=list)
    indexes: set[str] = field(default_factory=set)
    marks: set[str] = field(default_factory=set)


def read_superseded(store: ManifestStore) -> Superseded:
    out = Superseded()
    for doc_id, doc in store.find(SUPERSEDED_KIND):
        out.docs.append(doc_id)
        out.indexes.update(_strings(doc, "indexes", f"superseded record {doc_id[:16]}"))
        out.marks.update(_strings(doc, "marks", f"superseded record {doc_id[:16]}"))
    return out


def read_marks(store: ManifestStore, skip: set[str] | None = None, ids: list[str] | None = None) -> dict[str, Mark]:
    """Every mark not settled (``skip``: marks named by superseded records), oldest first. ``ids``: the
    listing of marks, if the caller has it."""
    listed = store.ids(PENDING_KIND) if ids is None else ids
    wanted = [i for i in listed if i not in (skip or set())]
    marks = [Mark.from_doc(i, d) for i, d in store.find(PENDING_KIND, ids=wanted)]
    return {m.id: m for m in sorted(marks, key=lambda m: (m.time, m.id))}


def write_mark(
    store: ManifestStore, when: float, packs: list[str], orphans: list[str], indexes: list[str], size: int
) -> Mark:
    doc = {
        "time": when,
        "packs": packs,
        "orphans": orphans,
        "indexes": indexes,
        "bytes": size,
        "created": clock.utcnow().isoformat(),
    }
    return Mark(
        id=store.put(PENDING_KIND, doc),
        time=when,
        packs=tuple(packs),
        orphans=tuple(orphans),
        indexes=tuple(indexes),
        size=size,
    )


def read_tombstones(store: ManifestStore) -> list[Tombstone]:
    out: list[Tombstone] = []
    for doc_id, doc in store.find(FORGOTTEN_KIND):
        where = f"forget record {doc_id[:16]}"
        snaps = doc.get("snapshots")
        if not isinstance(snaps, list) or not all(
            isinstance(s, dict) and isinstance(s.get("root"), dict) for s in snaps
        ):
            raise IntegrityError(f"{where}: no valid snapshot list")
        out.append(Tombstone(doc_id, _time(doc, where), tuple(s["root"] for s in snaps)))
    return out


def write_tombstone(store: ManifestStore, snapshots: Iterable[tuple[str, dict[str, Any]]]) -> str:
    """Record the roots of snapshots about to be forgotten; written before any of them is deleted."""
    doc = {"time": clock.now(), "snapshots": [{"id": sid, "root": root} for sid, root in snapshots]}
    return store.put(FORGOTTEN_KIND, doc)
