"""What one drill run carries between its steps: the job, the opened repository, the sandbox kind,
a private work directory, and the phase clock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..config import JobConfig
from ..core import tracing
from ..repository.repo import Repository
from .result import CheckResult


@dataclass(kw_only=True)
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
    sandbox: str | None = None  # where the kind restored, when it says (a plugin's hook); None: as chosen


class PhaseClock:
    """The drill's phases, back to back from the drill's start: a phase runs from where the one before it ended
    (the first from the start of the drill), so what a drill does between two phases (finding the snapshot,
    loading its facts) counts in the phase it prepares, and the phases up to the end of ``verify`` add up to the
    RTO -- what an operator waits for. Each phase is also a span ``drkit.drill.<phase>`` with the same bounds
    (one monotonic clock, mapped onto the wall clock once), so a trace shows the same sum."""

    def __init__(self) -> None:
        self.start_ns = time.monotonic_ns()
        self._wall_offset_ns = time.time_ns() - self.start_ns
        self._mark_ns = self.start_ns  # where the last phase ended
        self.phases: dict[str, float] = {}
        self.verified_ns: int | None = None  # where the verify phase ended: where RTO stops

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        begin = self._mark_ns
        with tracing.timed_span(f"drkit.drill.{name}", begin + self._wall_offset_ns, **{"drkit.phase": name}) as span:
            try:
                yield
            finally:
                now = self._mark_ns = time.monotonic_ns()
                span.end_at(now + self._wall_offset_ns)
                self.phases[name] = round(self.phases.get(name, 0.0) + (now - begin) / 1e9, 3)
                if name == "verify":
                    self.verified_ns = now

    def seconds(self, until_ns: int | None = None) -> float:
        """Seconds from the drill's start to ``until_ns`` (a monotonic ``_ns`` instant; default now)."""
        return round(((until_ns if until_ns is not None else time.monotonic_ns()) - self.start_ns) / 1e9, 3)


@dataclass(kw_only=True)
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
    clock: PhaseClock = field(default_factory=PhaseClock)

    @property
    def phases(self) -> dict[str, float]:
        return self.clock.phases

    def phase(self, name: str) -> AbstractContextManager[None]:
        """``with ctx.phase("restore"):`` times a phase (``PhaseClock.phase``)."""
        return self.clock.phase(name)
