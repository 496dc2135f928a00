"""One drill's outcome: the single object every report (terminal, JSON, JUnit, Prometheus, HTML
history) is rendered from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

# open the repository, restore (fetch + decrypt + write), log replay (a kind's archive: WAL, AOF …), start the
# server, checks; back to back, they add up to the RTO (drills/context.py PhaseClock); a kind uses those it has
PHASES = ("open", "restore", "recovery", "start", "verify")


@dataclass
class CheckResult:
    name: str  # "<kind>.<what>" (e.g. "postgres.row_counts", "files.content"), "user.sql[0]", "restore", "canary"
    ok: bool
    detail: str = ""  # what was compared, or what was wrong (never a secret)
    seconds: float = 0.0


@dataclass
class TargetResult:
    name: str  # "rpo" | "rto"
    target_seconds: float
    actual_seconds: float | None  # None: could not be measured (the drill failed before)

    @property
    def ok(self) -> bool:
        return self.actual_seconds is not None and self.actual_seconds <= self.target_seconds


@dataclass(kw_only=True)
class DrillResult:
    job: str
    source_kind: str  # the job's source kind (a registered kind), or "system" for a system's own result
    sandbox: str  # "local" | "docker"
    started_at: str  # ISO 8601 UTC
    snapshot_id: str = ""
    point_in_time: str | None = None
    point_reached: str | None = None  # a point-in-time drill: the instant whose state was restored (≤ point_in_time)
    phases: dict[str, float] = field(default_factory=dict)  # PHASES → seconds
    rto_seconds: float | None = None
    rpo_catalog_seconds: float | None = None  # now − newest recoverable point in the repository
    rpo_verified_seconds: float | None = None  # now − newest canary found in the restored data
    rpo_basis: str = ""  # what the RPO compared with the target rests on: a restored canary, or the catalog
    checks: list[CheckResult] = field(default_factory=list)
    targets: list[TargetResult] = field(default_factory=list)
    error: str | None = None  # the drill could not run to the end (restore failed, sandbox did not start …)
    not_verified: list[str] = field(default_factory=list)  # "subject: why", what the drill could not check
    # the newest system heartbeat in the restored data: per system the job belongs to (a system drill: per component)
    system_heartbeats: dict[str, str | None] = field(default_factory=dict)
    id: str = ""  # set when stored in the repository

    @property
    def checks_ok(self) -> bool:
        return self.error is None and all(c.ok for c in self.checks)

    @property
    def targets_ok(self) -> bool:
        return all(t.ok for t in self.targets)

    @property
    def success(self) -> bool:
        return self.checks_ok and self.targets_ok

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.ok]

    @property
    def started_timestamp(self) -> float | None:
        """``started_at`` as seconds since the epoch (naive times are UTC); None if it does not parse."""
        try:
            started = datetime.fromisoformat(self.started_at)
        except ValueError:
            return None
        return (started if started.tzinfo else started.replace(tzinfo=UTC)).timestamp()

    def target(self, name: str) -> TargetResult | None:
        """The ``rpo`` or ``rto`` target, if the drill had one."""
        return next((t for t in self.targets if t.name == name), None)

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.pop("id")
        doc["success"] = self.success
        for t, raw in zip(self.targets, doc["targets"], strict=True):
            raw["ok"] = t.ok
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any], drill_id: str = "") -> DrillResult:
        fields = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__ and k not in ("checks", "targets")}
        checks = [CheckResult(**c) for c in doc.get("checks", [])]
        targets = [
            TargetResult(name=t["name"], target_seconds=t["target_seconds"], actual_seconds=t["actual_seconds"])
            for t in doc.get("targets", [])
        ]
        return cls(**fields, checks=checks, targets=targets, id=drill_id)
