"""`drkit restore --system NAME --point-in-time T`: every component of a system restored to T, each
into its own directory under the target, in parallel, by its kind (the registry's ``HasSystemRestore``,
``HasServerLoad`` for ``--into JOB=URL``; the built-ins run ``restore_pitr``, ``restore_redis``,
``restore_files``). Every component is planned first
(``system_plan``); a component that cannot get within the allowed skew of T refuses the whole
restore (:class:`SkewTooLarge`, exit 15) before a byte is written."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from storage_backends.errors import BackendError

from ..config import DrkitConfig
from ..core.errors import DrkitError, IntegrityError, PartialRestore, StorageError, UsageError
from ..core.log import redact
from ..core.timespec import format_time, parse_time
from ..repository.repo import Repository
from ..repository.storage_errors import translate
from ..sources.registry import HasServerLoad, HasSystemRestore, source_kind
from .connect import open_job_repository
from .system_heartbeat import Heartbeats
from .system_plan import ComponentPlan, SkewTooLarge, plan_component
from .system_verify import read_heartbeat


@dataclass(frozen=True, kw_only=True)
class SystemRequest:
    point_in_time: str  # as the user spelled it (checked by the CLI's TIME type)
    target_dir: Path  # each component goes into target_dir/<job>
    allow_skew: float | None = None  # seconds; None: the system's max_skew
    start: bool = False  # start PostgreSQL (recovery to T) and Redis on what was restored
    os_user: str | None = None  # the PostgreSQL data directory's owner (default as root: postgres)
    system: str = ""  # set by prepare_system
    into: tuple[tuple[str, str], ...] = ()  # (job, DIR or, for Redis, a running server's URL) instead of DIR/<job>
    skip_damaged: bool = False  # plan past a damaged snapshot manifest that may be newer (default: exit 13)


@dataclass(kw_only=True)
class ComponentResult:
    job: str
    kind: str
    point: str  # the instant whose state the component holds
    skew_seconds: float  # how far before the target
    how: str
    target: str
    snapshot: str = ""
    port: int | None = None  # --start: where the server listens
    pid: int | None = None  # --start (Redis): the server's process
    last_commit: str | None = None  # PostgreSQL with --start: the newest transaction replayed (as logged)
    heartbeat: str | None = None  # the newest system heartbeat in the restored data (PostgreSQL, Redis: --start)
    error: str | None = None
    exit_code: int = 0  # 0: restored whole; else its own exit code (3 partial, 13 damaged data, 14 storage, ...)

    def __post_init__(self) -> None:
        if self.error is not None and not self.exit_code:
            self.exit_code = DrkitError.exit_code  # an error never counts as restored whole


@dataclass(frozen=True, kw_only=True)
class Component:
    """One component to restore, as its kind's ``restore_system_component`` receives it."""

    config: DrkitConfig
    plan: ComponentPlan
    target: Any  # a directory (Path), or the running server its kind's load_target returned
    when: datetime
    req: SystemRequest
    out: ComponentResult  # the kind fills in port, pid, last_commit …

    @property
    def source(self) -> Any:
        """The component's job's ``source:``."""
        return self.config.job(self.plan.job).source

    def repository(self) -> Repository:
        """The component's job's repository, opened (the caller closes it): a kind outside the jobs layer
        needs no import of it."""
        repo, _ = open_job_repository(self.config, self.config.job(self.plan.job))
        return repo


@dataclass(kw_only=True)
class SystemRestore:
    system: str
    point_in_time: str
    allowed_skew_seconds: float
    skew_seconds: float  # newest component point minus oldest: how far apart the components are
    components: list[ComponentResult] = field(default_factory=list)
    verified_point: str | None = None  # the newest heartbeat every component holds (read from restored data)
    measured_skew_seconds: float | None = None  # how far apart the components' newest heartbeats are

    @property
    def ok(self) -> bool:
        return all(c.exit_code == 0 for c in self.components)

    def to_doc(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def plan_system(config: DrkitConfig, name: str, when: datetime, *, skip_damaged: bool = False) -> list[ComponentPlan]:
    """Each component's plan, in the system's order; a component that cannot be planned is a usage
    error naming it (nothing is written); ``skip_damaged``: as ``--skip-damaged`` of the restores."""
    plans = []
    for job_name in config.system(name).jobs:
        job = config.job(job_name)
        repo, _ = open_job_repository(config, job)
        repo.manifests.past_damaged = skip_damaged
        try:
            plans.append(plan_component(repo, job_name, job, when))
        except DrkitError as exc:  # the same error (and exit code), naming the component
            exc.message = f"system {name}, job {job_name}: {exc.message}"
            exc.args = (exc.message,)
            raise
        finally:
            repo.close()
    return plans


def check_skew(name: str, plans: list[ComponentPlan], when: datetime, allowed: float) -> None:
    far = [p for p in plans if p.skew(when) > allowed]
    if far:
        parts = ", ".join(f"{p.job} ({p.kind}) reaches {format_time(p.point)}, {p.skew(when):g} s before" for p in far)
        raise SkewTooLarge(
            f"system {name} cannot be restored to {format_time(when)} within {allowed:g} s: {parts}",
            hint="pass --allow-skew DURATION to accept it, or choose a point in time the backups "
            "reach (each component's newest point: `drkit snapshots`, `pg windows`, "
            "`redis windows`)",
        )


@dataclass(frozen=True, kw_only=True)
class PreparedSystem:
    """A system restore planned and checked, nothing written yet (``prepare_system``)."""

    name: str
    when: datetime
    allowed: float
    plans: list[ComponentPlan]
    dirs: dict[str, Any]  # a directory (Path), or a running server (its kind's load_target)
    req: SystemRequest


def prepare_system(config: DrkitConfig, name: str, req: SystemRequest) -> PreparedSystem:
    """Plan every component and check the skew and the targets; raises (exit 15, 2, ...) before a byte is
    written. `restore --all` prepares every system before it restores the first one."""
    system = config.system(name)
    when = parse_time(req.point_in_time)
    allowed = system.max_skew if req.allow_skew is None else req.allow_skew
    plans = plan_system(config, name, when, skip_damaged=req.skip_damaged)
    req = replace(req, system=name)
    check_skew(name, plans, when, allowed)
    dirs = _targets(name, plans, req)
    paths = [d.resolve() for d in dirs.values() if isinstance(d, Path)]
    if len(set(paths)) != len(paths):
        raise UsageError("two components would be restored into the same directory", hint="see --into")
    for job_dir in dirs.values():
        if isinstance(job_dir, Path) and job_dir.exists() and (not job_dir.is_dir() or any(job_dir.iterdir())):
            raise UsageError(f"{job_dir} exists and is not an empty directory; refusing to restore into it")
    return PreparedSystem(name=name, when=when, allowed=allowed, plans=plans, dirs=dirs, req=req)


def restore_prepared(config: DrkitConfig, prepared: PreparedSystem) -> SystemRestore:
    """Restore every component of a prepared system, in parallel; every outcome in the result."""
    plans, dirs, when, req = prepared.plans, prepared.dirs, prepared.when, prepared.req
    req.target_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(len(plans), thread_name_prefix="drkit-system") as pool:
        done = list(pool.map(lambda p: _restore_one(config, p, dirs[p.job], when, req), plans))
    points = [p.point for p in plans]
    skew = round((max(points) - min(points)).total_seconds(), 6)
    result = SystemRestore(
        system=prepared.name,
        point_in_time=format_time(when),
        allowed_skew_seconds=prepared.allowed,
        skew_seconds=skew,
        components=done,
    )
    beats = Heartbeats({c.job: parse_time(c.heartbeat) if c.heartbeat else None for c in done})
    if beats.verified_point is not None:
        result.verified_point = format_time(beats.verified_point)
        result.measured_skew_seconds = beats.skew_seconds
    return result


def _targets(name: str, plans: list[ComponentPlan], req: SystemRequest) -> dict[str, Any]:
    """Where each component goes: DIR/<job>, or what ``--into JOB=TARGET`` says (checked before any work)."""
    given = dict(req.into)
    unknown = sorted(set(given) - {p.job for p in plans})
    if unknown:
        raise UsageError(
            f"--into {redact(unknown[0])}=…: {redact(unknown[0])!r} is not a job of system {name}",
            hint="its jobs: " + ", ".join(p.job for p in plans),
        )
    out: dict[str, Any] = {}  # a directory (Path), or a running server its kind checked (load_target)
    for plan in plans:
        target = given.get(plan.job)
        if target is None or "://" not in target:
            if getattr(source_kind(plan.kind), "server_only", False):
                raise UsageError(
                    f"a {plan.kind} component is loaded into a running server, not a directory",
                    hint=f"give --into {plan.job}=URL (docs/systems.md)",
                )
            out[plan.job] = Path(target) if target is not None else req.target_dir / plan.job
        elif not isinstance(kind := source_kind(plan.kind), HasServerLoad):
            raise UsageError(
                f"--into {plan.job}=URL: a {plan.kind} component restores into a directory",
                hint="a running server is a target only for a kind that loads into one (docs/systems.md)",
            )
        elif req.start:
            raise UsageError(
                f"--into {plan.job}=URL loads a running server: --start does not apply to it",
                hint="restore that component into a directory to use --start",
            )
        else:
            out[plan.job] = kind.load_target(target)
    return out


def _restore_one(
    config: DrkitConfig, plan: ComponentPlan, target: Any, when: datetime, req: SystemRequest
) -> ComponentResult:
    shown = str(target) if isinstance(target, Path) else target.display
    out = ComponentResult(
        job=plan.job,
        kind=plan.kind,
        point=format_time(plan.point),
        skew_seconds=plan.skew(when),
        how=plan.how,
        target=shown,
        snapshot=plan.snapshot,
    )
    try:
        kind = source_kind(plan.kind)
        if not isinstance(kind, HasSystemRestore):
            raise UsageError(f"{plan.job}: a {plan.kind} component cannot be restored as part of a system")
        if not isinstance(target, Path) and not isinstance(kind, HasServerLoad):  # _targets refuses it too
            raise UsageError(f"{plan.job}: a {plan.kind} component restores into a directory")
        kind.restore_system_component(Component(config=config, plan=plan, target=target, when=when, req=req, out=out))
    except Exception as exc:  # noqa: BLE001 - any failure is this component's: the others go on, and the
        # result lists every component and the servers it left running (a traceback would lose them)
        err = component_error(exc)
        out.error, out.exit_code = err.message, err.exit_code
        return out
    beat = read_heartbeat(config, req.system, plan, out, None if isinstance(target, Path) else target)
    out.heartbeat = format_time(beat) if beat is not None else None
    return out


def component_error(exc: Exception) -> DrkitError:
    """A component's failure as one line and an exit code: a DrkitError as it is, a storage error that
    escaped translation as translated (exit 14), anything else as exit 1 naming its type."""
    if isinstance(exc, DrkitError):
        return exc
    if isinstance(exc, BackendError):
        return translate(exc)
    return DrkitError(f"{type(exc).__name__}: {exc}")


def exit_code(components: list[ComponentResult]) -> int:
    """The command's exit code (docs/systems.md): 13 when any component found damaged data, else 14 when
    storage failed, else the first failed component's own code (in order), else 3 when one is partial."""
    codes = [c.exit_code for c in components if c.exit_code]
    for severe in (IntegrityError.exit_code, StorageError.exit_code):
        if severe in codes:
            return severe
    failed = [code for code in codes if code != PartialRestore.exit_code]
    return failed[0] if failed else (codes[0] if codes else 0)
