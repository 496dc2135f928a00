"""Figures shared by the text, table and HTML reports: percentiles, a per-job summary, the reasons a
drill failed, and durations written for people."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TypedDict

from ..result import DrillResult


class Summary(TypedDict):
    count: int
    success_rate: float | None  # 0.0 … 1.0; None without drills
    rto_p50: float | None
    rto_p95: float | None
    last_rpo_catalog: float | None  # from the newest drill
    last_rpo_verified: float | None
    last_success: bool | None
    last_started_at: str | None


def percentile(values: Iterable[float | None], p: float) -> float | None:
    """The ``p``-th percentile (0 … 100, linear interpolation between ranks); None values are
    ignored, and None is returned when no value is left."""
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be between 0 and 100, not {p}")
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    rank = (len(data) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return data[low] + (data[high] - data[low]) * (rank - low)


def summarize(results: Sequence[DrillResult]) -> Summary:
    """A summary of one job's drills, given oldest first."""
    rtos = [r.rto_seconds for r in results]
    last = results[-1] if results else None
    return Summary(
        count=len(results),
        success_rate=sum(r.success for r in results) / len(results) if results else None,
        rto_p50=percentile(rtos, 50),
        rto_p95=percentile(rtos, 95),
        last_rpo_catalog=last.rpo_catalog_seconds if last else None,
        last_rpo_verified=last.rpo_verified_seconds if last else None,
        last_success=last.success if last else None,
        last_started_at=last.started_at if last else None,
    )


def plain_seconds(seconds: float) -> str:
    """Seconds with at most 2 significant decimals: ``12.3s``, ``1s``, ``0.04s``, ``5400s``."""
    if seconds >= 1000:
        return f"{seconds:.0f}s"
    text = f"{seconds:.2f}" if seconds < 10 else f"{seconds:.1f}"
    return text.rstrip("0").rstrip(".") + "s"


def human_seconds(seconds: float | None) -> str:
    """A duration for people: ``12.3s``, ``4min 05s``, ``15min``, ``2h 03min``, ``3d 04h``; ``—`` for None."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return plain_seconds(seconds)
    total = round(seconds)
    unit, size, sub, sub_size = next(u for u in _UNITS if total >= u[1])
    rest = (total % size) // sub_size
    return f"{total // size}{unit} {rest:02d}{sub}" if rest else f"{total // size}{unit}"


_UNITS = (("d", 86400, "h", 3600), ("h", 3600, "min", 60), ("min", 60, "s", 1))  # units of drkit's duration grammar


def target_reason(name: str, target_seconds: float, actual_seconds: float | None) -> str:
    """Why a target was missed: ``rto 12.3s > target 1s`` or ``rto not measured``."""
    if actual_seconds is None:
        return f"{name} not measured (target {plain_seconds(target_seconds)})"
    return f"{name} {plain_seconds(actual_seconds)} > target {plain_seconds(target_seconds)}"


def failure_reasons(result: DrillResult) -> list[str]:
    """Every reason the drill failed, in report order (empty when it passed)."""
    reasons = [f"error: {result.error}"] if result.error else []
    reasons += [f"check {c.name} failed" for c in result.failed_checks]
    reasons += [target_reason(t.name, t.target_seconds, t.actual_seconds) for t in result.targets if not t.ok]
    return reasons


__all__ = ["Summary", "failure_reasons", "human_seconds", "percentile", "plain_seconds", "summarize", "target_reason"]
