"""Backup-time facts (row counts, checksums, key samples) kept next to a snapshot as a small
encrypted manifest of kind ``facts``, so drills can compare a restore with its source."""

from __future__ import annotations

from typing import Any

from ..core import clock
from ..repository.repo import Repository

KIND = "facts"


def save_facts(repo: Repository, snapshot_id: str, job: str, facts: dict[str, Any]) -> str:
    doc = {"snapshot": snapshot_id, "job": job, "recorded_at": clock.utcnow().isoformat(), "facts": facts}
    return repo.manifests.put(KIND, doc)


def load_facts(repo: Repository, snapshot_id: str) -> dict[str, Any] | None:
    """The facts recorded for a snapshot (None: none were)."""
    for _, doc in repo.manifests.find(KIND, lambda d: d.get("snapshot") == snapshot_id):
        facts: dict[str, Any] = doc["facts"]
        return facts
    return None


def repoint_facts(repo: Repository, old_id: str, new_id: str) -> int:
    """Record the facts of snapshot ``old_id`` for ``new_id`` too (a snapshot document rewritten under a
    new id, as `drkit tag` does): a drill of the new id compares against them. Returns how many."""
    docs = [doc for _, doc in repo.manifests.find(KIND, lambda d: d.get("snapshot") == old_id)]
    for doc in docs:
        repo.manifests.put(KIND, {**doc, "snapshot": new_id})
    return len(docs)
