"""Drill results kept in the repository, as sealed manifests of kind ``drill``, for the HTML history
and for trends (RTO percentiles, RPO over time)."""

from __future__ import annotations

from ..core.errors import UsageError
from ..repository.manifests import Document, ManifestStore
from .result import DrillResult

KIND = "drill"


def save_result(store: ManifestStore, result: DrillResult) -> str:
    """Store ``result``; sets and returns its id."""
    result.id = store.put(KIND, result.to_doc())
    return result.id


def _sort_key(result: DrillResult) -> tuple[float, str, str]:
    stamp = result.started_timestamp
    return (float("-inf") if stamp is None else stamp, result.started_at, result.id)


def load_history(store: ManifestStore, job: str | None = None, last: int | None = None) -> dict[str, list[DrillResult]]:
    """Stored drills per job (only ``job`` if given), oldest first, at most the ``last`` newest per job."""
    if last is not None and last < 1:
        raise UsageError(f"the number of drills to keep per job must be at least 1, not {last}")

    def match(doc: Document) -> bool:
        return job is None or doc.get("job") == job

    history: dict[str, list[DrillResult]] = {}
    for drill_id, doc in store.find(KIND, match):
        result = DrillResult.from_doc(doc, drill_id)
        history.setdefault(result.job, []).append(result)
    for name, results in history.items():
        results.sort(key=_sort_key)
        history[name] = results[-last:] if last is not None else results
    return dict(sorted(history.items()))


__all__ = ["KIND", "load_history", "save_result"]
