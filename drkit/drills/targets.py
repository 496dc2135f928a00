"""RPO and RTO against the job's targets, and against a runbook's own when the drill runs one (pure).
The RPO compared is the verified one (proven by restored data) when a canary was found, else the
catalog one."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Targets
from .result import DrillResult, TargetResult


@dataclass(frozen=True)
class ExtraTargets:
    """Targets a drill is held to besides its job's, each optional: a runbook's (``drkit runbook run``).
    They appear in the reports as ``<label>.rpo`` / ``<label>.rto``; a miss fails the drill (exit 20)."""

    label: str
    rpo: float | None = None
    rto: float | None = None


def evaluate_targets(targets: Targets, result: DrillResult, extra: ExtraTargets | None = None) -> list[TargetResult]:
    rpo = result.rpo_verified_seconds if result.rpo_verified_seconds is not None else result.rpo_catalog_seconds
    out = [TargetResult("rpo", targets.rpo, rpo), TargetResult("rto", targets.rto, result.rto_seconds)]
    if extra is not None and extra.rpo is not None:
        out.append(TargetResult(f"{extra.label}.rpo", extra.rpo, rpo))
    if extra is not None and extra.rto is not None:
        out.append(TargetResult(f"{extra.label}.rto", extra.rto, result.rto_seconds))
    return out


def exit_code_for(results: list[DrillResult]) -> int:
    """0 all passed · 21 a check failed (or the drill could not run) · 20 only targets were missed."""
    if any(not r.checks_ok for r in results):
        return 21
    if any(not r.targets_ok for r in results):
        return 20
    return 0
