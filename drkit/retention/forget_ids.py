"""``drkit forget ID…``: remove named snapshots, like restic's ``forget ID``.

Each reference is a unique id prefix (4 to 64 hex digits) resolved against the stored snapshot
objects, not their decoded documents: a damaged snapshot, whose manifest cannot be read, can be named
and removed too (that is how junk under ``snapshots/`` is cleared so prune may run again). Every
reference is resolved before anything is removed; an unknown or ambiguous one is a usage error
(exit 2, the candidates listed). Then, as for a policy (``forget``): the maintenance lock, a tombstone
with the readable snapshots' roots, the manifests deleted, and every continuous-log archive (WAL, AOF,
binary logs …, ``sources.archives``) trimmed to the snapshots kept; ``windows`` says which
point-in-time windows that changes.
A snapshot under object lock is kept, with the date its retention ends.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..core.errors import UsageError
from ..repository import snapshots as snaps
from ..repository.format import snapshot_key
from ..repository.immutability import Trimming, when
from ..repository.manifests import ManifestStore
from ..repository.marks import write_tombstone
from ..repository.repo import Repository
from ..repository.snapshots import Snapshot
from ..sources.archives import plan_archives, remove_archives
from .windows import window_notes

_REF = re.compile(r"[0-9a-f]{4,64}")


@dataclass
class Named:
    id: str
    snapshot: Snapshot | None  # None: damaged, its manifest cannot be read
    locked_until: str | None = None  # under object lock until then: kept


@dataclass
class ForgetIdsResult:
    named: list[Named]
    dry_run: bool
    windows: list[str] = field(default_factory=list)  # point-in-time windows that change
    archives: dict[str, Trimming] = field(default_factory=dict)  # archive label → its plan (sources.archives)

    @property
    def removed(self) -> list[Named]:
        return [n for n in self.named if n.locked_until is None]


def _describe(snapshot_id: str, known: dict[str, Snapshot]) -> str:
    s = known.get(snapshot_id)
    if s is None:
        return f"{snapshot_id[:12]} (damaged)"
    return f"{snapshot_id[:12]} ({s.time[:19]} {s.source_kind}:{s.source_name})"


def resolve(store: ManifestStore, refs: Sequence[str], known: dict[str, Snapshot]) -> list[str]:
    """The full ids of ``refs``, each once, in the order given; UsageError for any that does not name
    exactly one stored snapshot (before anything is removed)."""
    ids = store.ids(snaps.KIND)
    chosen: list[str] = []
    for ref in refs:
        if not _REF.fullmatch(ref.lower()):
            raise UsageError(
                f"{ref[:80]!r} is not a snapshot id (4 to 64 hex digits)",
                hint="`drkit snapshots` lists them; a policy is given with --keep-*",
            )
        matches = [i for i in ids if i.startswith(ref.lower())]
        if not matches:
            raise UsageError(f"no snapshot with id {ref!r}", hint="`drkit snapshots` lists them")
        if len(matches) > 1:
            shown = ", ".join(_describe(m, known) for m in matches[:10])
            raise UsageError(
                f"snapshot id prefix {ref!r} is ambiguous: {len(matches)} candidates: {shown}", hint="give more digits"
            )
        if matches[0] not in chosen:
            chosen.append(matches[0])
    return chosen


def _plan_archives(repo: Repository, result: ForgetIdsResult, kept: list[Snapshot]) -> None:
    kinds = {n.snapshot.source_kind for n in result.removed if n.snapshot is not None}
    result.archives = plan_archives(repo, kept, kinds.__contains__)


def forget_ids(repo: Repository, refs: Sequence[str], *, dry_run: bool = False) -> ForgetIdsResult:
    """Remove the snapshots ``refs`` name (module docstring); ``dry_run`` removes nothing."""
    with repo.lock(maintenance=not dry_run, purpose="forget"):
        every = snaps.load_all(repo.manifests)
        known = {s.id: s for s in every}
        result = ForgetIdsResult([Named(i, known.get(i)) for i in resolve(repo.manifests, refs, known)], dry_run)
        for n in result.named:
            until = repo.locked_until(snapshot_key(n.id))
            n.locked_until = when(until) if until is not None else None
        gone = {n.id for n in result.removed}
        kept = [s for s in every if s.id not in gone]
        result.windows = window_notes(every, kept)
        _plan_archives(repo, result, kept)
        if dry_run:
            return result
        roots = [(n.id, n.snapshot.root) for n in result.removed if n.snapshot is not None]
        if roots:  # the tombstone first: prune must see the roots as long as a backup may use them
            write_tombstone(repo.manifests, roots)
        for n in result.removed:  # snapshots first: an interruption leaves extra log, never a snapshot without it
            repo.manifests.delete(snaps.KIND, n.id)
        remove_archives(repo, result.archives)
    return result
