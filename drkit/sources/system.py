"""What a source kind and the layers above share about systems (``systems:`` in drkit.yaml) and partial
backups, with no kind in it: the plan of one component of a system restore (a kind's
``plan_system_component`` returns it; the jobs layer restores, drills and judges it), the canary name a
system heartbeat is written under, and how many entries a snapshot's backup skipped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..repository.snapshots import Snapshot


@dataclass(frozen=True, kw_only=True)
class ComponentPlan:
    """How one component of a system is restored to a target instant, as its kind planned it."""

    job: str
    kind: str  # the job's source kind
    point: datetime  # the instant whose state the component holds once restored (never after the target)
    how: str  # one line: what is restored, for people
    snapshot: str = ""  # the snapshot restored from ("" when the kind restores from its archive alone)
    source_name: str | None = None  # the source name the restore reads, when the kind's plan chose one
    point_in_time: str | None = None  # the point in time handed to the kind's restore (None: the snapshot's)
    until: datetime | None = None  # when the snapshot ended, for a kind whose snapshot spans [point, until]

    def skew(self, target: datetime) -> float:
        """Seconds the component stays before the target."""
        return round((target - self.point).total_seconds(), 6)


def heartbeat_name(system: str) -> str:
    """The canary name a system's heartbeat is written under (job names cannot hold a colon)."""
    return f"system:{system}"


def backup_skipped(snap: Snapshot) -> int:
    """How many entries the snapshot's backup skipped or read while they changed (``backup files`` exit 3,
    a local base backup's unreadable files): such a snapshot is not the state at its start. Read
    defensively: a crafted count is no count."""
    count = snap.stats.get("warnings", 0)
    return count if type(count) is int and count > 0 else 0
