"""`drkit restore --system NAME --point-in-time T`: every component of a system restored to T, each
into its own directory under the target, in parallel, through the per-source restore use cases
(``restore_pitr``, ``restore_redis``, ``restore_files``). Every component is planned first
(``system_plan``); a component that cannot get within the allowed skew of T refuses the whole
restore (:class:`SkewTooLarge`, exit 15) before a byte is written."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storage_backends.errors import BackendError

from ..config import DrkitConfig
from ..core.errors import DrkitError, IntegrityError, PartialRestore, StorageError, UsageError
from ..core.log import redact
from ..core.timespec import format_time, parse_time
from ..repository import snapshots
from ..repository.storage_errors import translate
from ..sources.files import Selection
from ..sources.files.ops import raise_if_partial_restore, restore_files
from ..sources.postgres.ops import PitrRequest, restore_pitr
from ..sources.postgres.pitr import Target
from ..sources.redis.ops import RestoreOptions, restore_redis
from .connect import open_job_repository
from .system_heartbeat import Heartbeats
from .system_plan import ComponentPlan, SkewTooLarge, plan_component
from .system_verify import read_heartbeat

if TYPE_CHECKING:
    from ..sources.redis.conn import RedisTarget

_LAST_COMMIT = re.compile(r"last completed transaction was at log time (.+)$")


@dataclass(frozen=True)
class SystemRequest:
    point_in_time: str  # as the user spelled it (checked by the CLI's TIME type)
    target_dir: Path  # each component goes into target_dir/<job>
    allow_skew: float | None = None  # seconds; None: the system's max_skew
    start: bool = False  # start PostgreSQL (recovery to T) and Redis on what was restored
    os_user: str | None = None  # the PostgreSQL data directory's owner (default as root: postgres)
    system: str = ""  # set by prepare_system
    into: tuple[tuple[str, str], ...] = ()  # (job, DIR or, for Redis, a running server's URL) instead of DIR/<job>
    skip_damaged: bool = False  # plan past a damaged snapshot manifest that may be newer (default: exit 13)


@dataclass
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


@dataclass
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


@dataclass(frozen=True)
class PreparedSystem:
    """A system restore planned and checked, nothing written yet (``prepare_system``)."""

    name: str
    when: datetime
    allowed: float
    plans: list[ComponentPlan]
    dirs: dict[str, Path | RedisTarget]
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
    return PreparedSystem(name, when, allowed, plans, dirs, req)


def restore_prepared(config: DrkitConfig, prepared: PreparedSystem) -> SystemRestore:
    """Restore every component of a prepared system, in parallel; every outcome in the result."""
    plans, dirs, when, req = prepared.plans, prepared.dirs, prepared.when, prepared.req
    req.target_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(len(plans), thread_name_prefix="drkit-system") as pool:
        done = list(pool.map(lambda p: _restore_one(config, p, dirs[p.job], when, req), plans))
    points = [p.point for p in plans]
    skew = round((max(points) - min(points)).total_seconds(), 6)
    result = SystemRestore(prepared.name, format_time(when), prepared.allowed, skew, done)
    beats = Heartbeats({c.job: parse_time(c.heartbeat) if c.heartbeat else None for c in done})
    if beats.verified_point is not None:
        result.verified_point = format_time(beats.verified_point)
        result.measured_skew_seconds = beats.skew_seconds
    return result


def _targets(name: str, plans: list[ComponentPlan], req: SystemRequest) -> dict[str, Path | RedisTarget]:
    """Where each component goes: DIR/<job>, or what ``--into JOB=TARGET`` says (checked before any work)."""
    given = dict(req.into)
    unknown = sorted(set(given) - {p.job for p in plans})
    if unknown:
        raise UsageError(
            f"--into {redact(unknown[0])}=…: {redact(unknown[0])!r} is not a job of system {name}",
            hint="its jobs: " + ", ".join(p.job for p in plans),
        )
    out: dict[str, Path | RedisTarget] = {}
    for plan in plans:
        target = given.get(plan.job)
        if target is None or "://" not in target:
            out[plan.job] = Path(target) if target is not None else req.target_dir / plan.job
        elif plan.kind != "redis":
            raise UsageError(
                f"--into {plan.job}=URL: a {plan.kind} component restores into a directory",
                hint="a running server as the target is supported for Redis (redis://, rediss://)",
            )
        elif req.start:
            raise UsageError(
                f"--into {plan.job}=URL loads a running server: --start does not apply to it",
                hint="restore that component into a directory to use --start",
            )
        else:
            out[plan.job] = _server(target)
    return out


def _server(url: str) -> RedisTarget:
    """A running Redis server to load a component into: its URL valid, the server reachable and empty,
    checked before anything is written (its password never shown: results carry ``display``)."""
    from ..sources.redis.conn import make_target  # the [redis] extra, imported when used
    from ..sources.redis.restore import check_load_target

    target = make_target(url)
    check_load_target(target)
    return target


def _restore_one(
    config: DrkitConfig, plan: ComponentPlan, target: Path | RedisTarget, when: datetime, req: SystemRequest
) -> ComponentResult:
    shown = str(target) if isinstance(target, Path) else target.display
    out = ComponentResult(plan.job, plan.kind, format_time(plan.point), plan.skew(when), plan.how, shown, plan.snapshot)
    try:
        if plan.kind == "redis":
            _redis(config, plan, target, req, out)
        elif not isinstance(target, Path):  # _targets refuses a server for any other kind
            raise UsageError(f"{plan.job}: a {plan.kind} component restores into a directory")
        elif plan.kind == "postgres":
            _postgres(config, plan, target, when, req, out)
        else:
            _files(config, plan, target)
    except Exception as exc:  # noqa: BLE001 - any failure is this component's: the others go on, and the
        # result lists every component and the servers it left running (a traceback would lose them)
        err = component_error(exc)
        out.error, out.exit_code = err.message, err.exit_code
        return out
    beat = read_heartbeat(config, req.system, plan, out, None if isinstance(target, Path) else target)
    out.heartbeat = format_time(beat) if beat is not None else None
    return out


def _postgres(
    config: DrkitConfig, plan: ComponentPlan, target: Path, when: datetime, req: SystemRequest, out: ComponentResult
) -> None:
    job = config.job(plan.job)
    repo, url = open_job_repository(config, job)
    secret = config.repositories[job.repository].passphrase.as_passphrase_source()
    os_user = req.os_user or ("postgres" if os.geteuid() == 0 else None)
    pitr = PitrRequest(
        Target("time", format_time(when)), target, url, secret, snapshot=plan.snapshot, start=req.start, os_user=os_user
    )
    try:
        _, rec = restore_pitr(repo, pitr)
    finally:
        repo.close()
    if rec is not None:
        out.port = rec.port
        found = [m.group(1).strip() for line in rec.reached if (m := _LAST_COMMIT.search(line))]
        out.last_commit = found[-1] if found else None


def _redis(
    config: DrkitConfig, plan: ComponentPlan, target: Path | RedisTarget, req: SystemRequest, out: ComponentResult
) -> None:
    repo, _ = open_job_repository(config, config.job(plan.job))
    if not isinstance(target, Path):  # a running server: every key is loaded into it (it must be empty)
        opts = RestoreOptions(to_url=target, point_in_time=plan.redis_cut, name=plan.redis_name)
    else:
        opts = RestoreOptions(target_dir=target, point_in_time=plan.redis_cut, name=plan.redis_name, start=req.start)
    try:
        restored = restore_redis(repo, None if plan.redis_cut else plan.snapshot, opts)
    finally:
        repo.close()
    out.port, out.pid = restored.port, restored.pid


def _files(config: DrkitConfig, plan: ComponentPlan, target: Path) -> None:
    repo, _ = open_job_repository(config, config.job(plan.job))
    try:
        snap = snapshots.find(repo.manifests, plan.snapshot)
        stats = restore_files(repo, snap, str(target), Selection())
    finally:
        repo.close()
    raise_if_partial_restore(snap, stats)  # also exit 3 when its backup skipped or half-read entries


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
