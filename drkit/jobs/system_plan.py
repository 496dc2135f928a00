"""Plan a whole-system point-in-time restore: for each component (a job of the system), the instant
whose state it can be restored to at or before T, before anything is written. Each kind plans its own
components (the registry's ``HasSystemPlan``) with the same catalog code as its own restores; the plan
is a :class:`ComponentPlan` (``drkit.sources.system``), which the system restore, drill and skew check
read without knowing the kind."""

from __future__ import annotations

from datetime import datetime

from ..config import JobConfig
from ..core.errors import DrkitError, UsageError
from ..repository.repo import Repository
from ..sources.registry import HasSystemPlan, source_kind
from ..sources.system import ComponentPlan

__all__ = ["ComponentPlan", "SkewTooLarge", "plan_component"]


class SkewTooLarge(DrkitError):
    """A component of a system cannot get within the allowed skew of the point in time (exit 15)."""

    exit_code = 15


def plan_component(repo: Repository, job_name: str, job: JobConfig, target: datetime) -> ComponentPlan:
    source = job.source
    kind = source_kind(source.kind)
    if not isinstance(kind, HasSystemPlan):  # e.g. a kind from a source plugin (drkit.sources)
        raise UsageError(f"job {job_name}: a {source.kind} job cannot be restored as part of a system yet")
    plan: ComponentPlan = kind.plan_system_component(repo, job_name, source, target)
    return plan
