"""Apply a retention policy: delete the manifests of the snapshots it does not keep.

Forgetting removes only snapshot manifests (under an exclusive lock); the data they referenced
stays until ``prune`` removes what no remaining snapshot needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..repository import snapshots as snaps
from ..repository.repo import Repository
from .policy import Decision, Policy, select


@dataclass
class ForgetResult:
    decisions: list[Decision]
    dry_run: bool

    @property
    def removed(self) -> list[Decision]:
        return [d for d in self.decisions if not d.keep]


def forget(repo: Repository, policy: Policy, *, source_kind: str | None = None, source_name: str | None = None,
           dry_run: bool = False) -> ForgetResult:
    """Decide for every snapshot (optionally of one source kind or name); delete the forgotten ones."""
    with repo.lock(exclusive=not dry_run, purpose="forget"):
        found = [s for s in snaps.load_all(repo.manifests)
                 if source_kind in (None, s.source_kind) and source_name in (None, s.source_name)]
        result = ForgetResult(select(found, policy), dry_run)
        if not dry_run:
            for d in result.removed:
                repo.manifests.delete(snaps.KIND, d.snapshot.id)
    return result
