"""RPO and RTO against the job's targets (pure). The RPO compared is the verified one (proven by
restored data) when a canary was found, else the catalog one."""

from __future__ import annotations

from ..config import Targets
from .result import DrillResult, TargetResult


def evaluate_targets(targets: Targets, result: DrillResult) -> list[TargetResult]:
    rpo = result.rpo_verified_seconds if result.rpo_verified_seconds is not None else result.rpo_catalog_seconds
    return [TargetResult("rpo", targets.rpo, rpo), TargetResult("rto", targets.rto, result.rto_seconds)]


def exit_code_for(results: list[DrillResult]) -> int:
    """0 all passed · 21 a check failed (or the drill could not run) · 20 only targets were missed."""
    if any(not r.checks_ok for r in results):
        return 21
    if any(not r.targets_ok for r in results):
        return 20
    return 0
