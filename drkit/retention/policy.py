"""Grandfather-father-son selection, pure: which snapshots a policy keeps, and why.

Like restic's ``forget``: snapshots are grouped (by host, source kind and name); within a group,
newest first, ``keep_last`` keeps the N newest, ``keep_hourly`` the newest snapshot of each of
the N most recent hours that have one (likewise daily, weekly, monthly, yearly), ``keep_within``
everything newer than a duration before the newest snapshot, ``keep_tags`` every snapshot with
one of the tags. A snapshot is kept if any rule keeps it; each kept snapshot lists its reasons.
An empty policy keeps everything (forgetting everything must be asked for explicitly).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ..core.durations import Duration


class Dated(Protocol):
    id: str
    time: str
    host: str
    source_kind: str
    source_name: str
    tags: list[str]


@dataclass(frozen=True, kw_only=True)
class Policy:
    keep_last: int = 0
    keep_hourly: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_yearly: int = 0
    keep_within: Duration | None = None  # drkit's one duration grammar: `7d`, `6mo`, `1y6mo` (calendar)
    keep_tags: frozenset[str] = frozenset()

    def is_empty(self) -> bool:
        return not (
            self.keep_last
            or self.keep_hourly
            or self.keep_daily
            or self.keep_weekly
            or self.keep_monthly
            or self.keep_yearly
            or self.keep_within is not None
            or self.keep_tags
        )


@dataclass
class Decision:
    snapshot: Dated
    keep: bool
    reasons: list[str] = field(default_factory=list)


_BUCKETS: tuple[tuple[str, Callable[[datetime], tuple[int, ...]]], ...] = (
    ("hourly", lambda t: (t.year, t.month, t.day, t.hour)),
    ("daily", lambda t: (t.year, t.month, t.day)),
    ("weekly", lambda t: t.isocalendar()[:2]),
    ("monthly", lambda t: (t.year, t.month)),
    ("yearly", lambda t: (t.year,)),
)


def _when(snap: Dated) -> datetime:
    return datetime.fromisoformat(snap.time)


def select(snapshots: Sequence[Dated], policy: Policy) -> list[Decision]:
    """Decide for every snapshot, group by group; newest first within each group."""
    groups: dict[tuple[str, str, str], list[Dated]] = {}
    for snap in snapshots:
        groups.setdefault((snap.host, snap.source_kind, snap.source_name), []).append(snap)
    decisions: list[Decision] = []
    for members in groups.values():
        decisions.extend(_select_group(sorted(members, key=_when, reverse=True), policy))
    return decisions


def _select_group(newest_first: list[Dated], policy: Policy) -> list[Decision]:
    decisions = [Decision(s, keep=False) for s in newest_first]
    if policy.is_empty():
        for d in decisions:
            d.keep, d.reasons = True, ["no policy given: everything is kept"]
        return decisions
    for i, d in enumerate(decisions[: policy.keep_last]):
        d.reasons.append(f"last {i + 1} of {policy.keep_last}")
    for name, bucket in _BUCKETS:
        _keep_buckets(decisions, getattr(policy, f"keep_{name}"), name, bucket)
    if policy.keep_within is not None and decisions:
        horizon = policy.keep_within.before(_when(decisions[0].snapshot))
        for d in decisions:
            if _when(d.snapshot) >= horizon:
                d.reasons.append(f"within {policy.keep_within} of the newest")
    for d in decisions:
        matched = policy.keep_tags.intersection(d.snapshot.tags)
        if matched:
            d.reasons.append(f"tagged {', '.join(sorted(matched))}")
        d.keep = bool(d.reasons)
    return decisions


def _keep_buckets(
    decisions: list[Decision], count: int, name: str, bucket: Callable[[datetime], tuple[int, ...]]
) -> None:
    seen: list[tuple[int, ...]] = []
    for d in decisions:
        if len(seen) >= count:
            return
        key = bucket(_when(d.snapshot))
        if key not in seen:
            seen.append(key)
            d.reasons.append(f"{name} {len(seen)} of {count}")
