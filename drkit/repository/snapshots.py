"""Snapshot manifests: what was backed up, when, from where, and the root of its content."""

from __future__ import annotations

import socket
from dataclasses import asdict, dataclass, field
from typing import Any

from ..core import clock
from ..core.errors import UsageError
from .manifests import ManifestStore

KIND = "snapshot"


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
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        return cls(id=snapshot_id, **known)

    @property
    def short_id(self) -> str:
        return self.id[:8]


def save(store: ManifestStore, snap: Snapshot) -> Snapshot:
    snap.id = store.put(KIND, snap.to_doc())
    return snap


def load_all(store: ManifestStore) -> list[Snapshot]:
    """Every snapshot, oldest first."""
    snaps = [Snapshot.from_doc(i, d) for i, d in store.find(KIND)]
    return sorted(snaps, key=lambda s: (s.time, s.id))


def find(store: ManifestStore, ref: str, *, source_kind: str | None = None,
         source_name: str | None = None) -> Snapshot:
    """A snapshot by id prefix, or ``latest`` (optionally of one source)."""
    if ref == "latest":
        snaps = [s for s in load_all(store)
                 if (source_kind is None or s.source_kind == source_kind)
                 and (source_name is None or s.source_name == source_name)]
        if not snaps:
            raise UsageError("no snapshot matches 'latest'")
        return snaps[-1]
    snapshot_id = store.resolve(KIND, ref)
    return Snapshot.from_doc(snapshot_id, store.get(KIND, snapshot_id))
