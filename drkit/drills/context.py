"""What one drill run carries between its steps: the job, the opened repository, the sandbox kind,
a private work directory, and the phase timer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..config import JobConfig
from ..core import tracing
from ..repository.repo import Repository
from .result import CheckResult


@dataclass
class KindOutcome:
    """What a per-kind drill found: the snapshot restored, its checks, the newest canary, and what it
    could not verify (one line each, ``subject: why``) — a point-in-time drill of a backup no job run
    took has no facts to compare with."""

    snapshot_id: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    canary: datetime | None = None
    not_verified: list[str] = field(default_factory=list)
    system_heartbeats: dict[str, datetime | None] = field(default_factory=dict)  # system → its newest heartbeat
    point_reached: str | None = None  # a point-in-time restore: the instant whose state it holds


@dataclass
class DrillContext:
    name: str
    job: JobConfig
    repo: Repository
    repo_url: str
    passphrase: str = field(repr=False)
    sandbox: str  # "local" | "docker"
    workdir: Path
    snapshot: str | None = None
    point_in_time: str | None = None
    systems: tuple[str, ...] = ()  # the systems of drkit.yaml the job belongs to: their heartbeats are read
    phases: dict[str, float] = field(default_factory=dict)
    verified_at: float | None = None  # monotonic time the verify phase ended: where RTO stops

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            with tracing.span(f"drkit.drill.{name}", **{"drkit.phase": name}):
                yield
        finally:
            now = time.monotonic()
            self.phases[name] = round(self.phases.get(name, 0.0) + now - t0, 3)
            if name == "verify":
                self.verified_at = now
