"""Snapshot manifests: what was backed up, when, from where, and the root of its content."""

from __future__ import annotations

import socket
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from ..core import clock
from ..core.errors import IntegrityError, UsageError
from .manifests import ManifestStore, manifest_key

KIND = "snapshot"


def _iso_time_ok(value: Any) -> bool:
    try:
        return type(value) is str and (not value or bool(datetime.fromisoformat(value)))
    except ValueError:
        return False


def _str_dict(value: Any) -> bool:
    return type(value) is dict and all(type(k) is str for k in value)


def doc_ok(doc: Any) -> bool:
    """The fast check of a snapshot document against ``snapshot_schema`` (hand-written so that reading
    snapshots does not load pydantic; never more lenient than the schema, which a test checks)."""
    if type(doc) is not dict:
        return False
    g = doc.get
    tags, parent = g("tags", []), g("parent")
    return (
        type(g("source_kind")) is str and type(g("source_name")) is str and _str_dict(g("root"))
        and _iso_time_ok(g("time", "")) and _iso_time_ok(g("end_time", "")) and type(g("host", "")) is str
        and type(tags) is list and all(type(t) is str for t in tags) and (parent is None or type(parent) is str)
        and _str_dict(g("stats", {})) and _str_dict(g("meta", {}))
    )


@dataclass
class Snapshot:
    source_kind: str
    source_name: str
    root: dict[str, Any]
    time: str = field(default_factory=lambda: clock.utcnow().isoformat())
    end_time: str = ""
    host: str = field(default_factory=socket.gethostname)
    tags: list[str] = field(default_factory=list)
    parent: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.pop("id")
        return doc

    @classmethod
    def from_doc(cls, snapshot_id: str, doc: dict[str, Any]) -> Snapshot:
        """The snapshot a decoded document describes; IntegrityError if a field has the wrong type (a
        crafted document must end as exit 13, never as a TypeError somewhere later)."""
        if doc_ok(doc):
            return cls(id=snapshot_id, **{k: doc[k] for k in _DOC_FIELDS if k in doc})
        from .snapshot_schema import validated  # pydantic: loaded for a malformed document only

        try:
            fields = validated(doc)
        except ValueError as exc:
            raise IntegrityError(f"snapshot {snapshot_id[:8]}: malformed document ({exc})") from None
        return cls(id=snapshot_id, **fields)

    @property
    def short_id(self) -> str:
        return self.id[:8]


_DOC_FIELDS = tuple(f for f in Snapshot.__dataclass_fields__ if f != "id")


def save(store: ManifestStore, snap: Snapshot) -> Snapshot:
    snap.id = store.put(KIND, snap.to_doc())
    return snap


def load_all(store: ManifestStore) -> list[Snapshot]:
    """Every snapshot, oldest first; a malformed one is skipped with a warning (``store.skipped``)."""
    snaps = []
    for snapshot_id, doc in store.find(KIND):
        try:
            snaps.append(Snapshot.from_doc(snapshot_id, doc))
        except IntegrityError as exc:
            store.skip(manifest_key(KIND, snapshot_id), exc.message)
    return sorted(snaps, key=lambda s: (s.time, s.id))


def find(store: ManifestStore, ref: str, *, source_kind: str | None = None,
         source_name: str | None = None) -> Snapshot:
    """A snapshot by id prefix, or ``latest`` (optionally of one source)."""
    if ref == "latest":
        snaps = [s for s in load_all(store)
                 if (source_kind is None or s.source_kind == source_kind)
                 and (source_name is None or s.source_name == source_name)]
        if not snaps:
            damaged = [k for k in store.skipped if k.startswith(manifest_key(KIND, ""))]
            if damaged:  # the one that would match may be among them: not a usage error
                raise IntegrityError(f"no intact snapshot matches 'latest'; {len(damaged)} damaged skipped "
                                     f"({damaged[0]})", hint="`drkit check` lists them")
            raise UsageError("no snapshot matches 'latest'")
        return snaps[-1]
    snapshot_id = store.resolve(KIND, ref)
    return Snapshot.from_doc(snapshot_id, store.get(KIND, snapshot_id))
