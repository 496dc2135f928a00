"""Each job's recoverable window in its repository: the end times of its oldest and newest snapshot
(snapshots tagged ``job=<name>``, which ``drkit job run`` and the scheduler write)."""

from __future__ import annotations

from datetime import datetime

from ..repository import snapshots
from ..repository.manifests import ManifestStore

JOB_TAG = "job="


def _end(snap: snapshots.Snapshot) -> float | None:
    try:
        return datetime.fromisoformat(snap.end_time or snap.time).timestamp()
    except ValueError:
        return None


def job_windows(store: ManifestStore) -> dict[str, tuple[float, float]]:
    """Job name → (oldest, newest) snapshot end time, epoch seconds."""
    out: dict[str, tuple[float, float]] = {}
    for snap in snapshots.load_all(store):
        end = _end(snap)
        for job in (t.removeprefix(JOB_TAG) for t in snap.tags if t.startswith(JOB_TAG)):
            if end is not None:
                old, new = out.get(job, (end, end))
                out[job] = (min(old, end), max(new, end))
    return out


__all__ = ["job_windows"]
