"""Each job's recoverable window in its repository: the end times of its oldest and newest snapshot
(snapshots tagged ``job=<name>``, which ``drkit job run`` and the scheduler write)."""

from __future__ import annotations

from datetime import datetime

from ..repository import snapshots
from ..repository.manifests import ManifestStore
from ..sources.system import backup_skipped

JOB_TAG = "job="


def _end(snap: snapshots.Snapshot) -> float | None:
    try:
        return datetime.fromisoformat(snap.end_time or snap.time).timestamp()
    except ValueError:
        return None


def job_windows(store: ManifestStore) -> dict[str, tuple[float, float]]:
    """Job name → (oldest, newest) snapshot end time, epoch seconds."""
    return job_windows_skipped(store)[0]


def job_windows_skipped(store: ManifestStore) -> tuple[dict[str, tuple[float, float]], dict[str, int]]:
    """``job_windows``, and job name → the entries its newest snapshot skipped (0: a whole backup; above 0:
    a partial one), in one reading of the snapshots."""
    out: dict[str, tuple[float, float]] = {}
    skipped: dict[str, int] = {}
    for snap in snapshots.load_all(store):
        end = _end(snap)
        for job in (t.removeprefix(JOB_TAG) for t in snap.tags if t.startswith(JOB_TAG)):
            if end is not None:
                old, new = out.get(job, (end, end))
                out[job] = (min(old, end), max(new, end))
                if end >= new:
                    skipped[job] = backup_skipped(snap)
    return out, skipped


__all__ = ["job_windows", "job_windows_skipped"]
