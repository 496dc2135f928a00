"""Run one drill: pick the sandbox, restore the job's backup into it, verify, and measure RTO
(drill start → restored instance passing its checks: the sum of its phases, opening the repository
first) and RPO (catalog and canary-verified) against the job's targets. A failure anywhere becomes
part of the result, never a crash: the reports are always written."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from importlib import import_module

from ..config import DrkitConfig, SqlCheck, Targets
from ..core import clock, tracing
from ..core.errors import DrkitError, UsageError
from ..jobs import open_job_repository
from ..ops.facts import load_facts
from ..repository.repo import Repository
from ..sources.registry import (
    DrillReport,
    DrillRequest,
    HasArchive,
    HasCatalogPoints,
    HasContainerDrill,
    HasContextDrill,
    HasDrill,
    source_kind,
)
from .context import DrillContext, KindOutcome, PhaseClock
from .result import CheckResult, DrillResult
from .rpo import newest_point, ran_before
from .sandbox import choose_sandbox, workdir
from .sandbox.docker import SandboxUnavailable
from .targets import ExtraTargets, evaluate_targets

log = logging.getLogger("drkit.drills")


def _drill_of(kind: str) -> Callable[[DrillContext], KindOutcome]:
    """The kind's drill of this layer (``HasContextDrill``: imported only when a drill of that kind runs,
    so a files drill needs no database extra), else its ``HasDrill`` hook."""
    plugin = source_kind(kind)
    if not isinstance(plugin, HasContextDrill):
        return _drill_plugin
    module, _, attr = plugin.context_drill.partition(":")
    drill: Callable[[DrillContext], KindOutcome] = getattr(import_module(module), attr)
    return drill


class _Refused(Exception):
    """A plugin's drill hook refused the request before restoring anything (a ``UsageError`` before its
    first phase: ``--point-in-time`` for a kind without it …): the drill ends with that error."""

    def __init__(self, error: UsageError) -> None:
        super().__init__(error.message)
        self.error = error


def _drill_plugin(ctx: DrillContext) -> KindOutcome:
    kind = ctx.job.source.kind
    plugin = source_kind(kind)
    if not isinstance(plugin, HasDrill):
        raise DrkitError(f"source kind {kind} has no drill hook: nothing can restore it into a sandbox")
    began: list[str] = []

    def phase(name: str) -> AbstractContextManager[None]:
        began.append(name)
        return ctx.phase(name)

    request = DrillRequest(
        repo=ctx.repo,
        job=ctx.name,
        config=ctx.job.source,
        workdir=ctx.workdir,
        snapshot=ctx.snapshot,
        point_in_time=ctx.point_in_time,
        phase=phase,
        facts_of=lambda snapshot_id: load_facts(ctx.repo, snapshot_id),
        sql_checks=[(i, c.sql, c.expect, c.database) for i, c in enumerate(ctx.job.checks) if isinstance(c, SqlCheck)],
        systems=ctx.systems,
        sandbox=ctx.sandbox,
        image=ctx.job.drill.images.get(kind),
    )
    report = _call_hook(plugin, request, began)
    out = KindOutcome(
        snapshot_id=report.snapshot_id,
        checks=[CheckResult(*check) for check in report.checks],
        canary=report.canary,
        not_verified=list(report.not_verified),
        system_heartbeats=dict(report.system_heartbeats),
        sandbox=report.sandbox,
    )
    others = [c for c in ctx.job.checks if not isinstance(c, SqlCheck)]
    if others:
        out.not_verified.append(f"checks: {len(others)} non-SQL check(s) are not run by a {kind} drill")
    return out


def _call_hook(plugin: HasDrill, request: DrillRequest, began: list[str]) -> DrillReport:
    """The hook's report. A third party's code: an exception that is no DrkitError is the drill's failure
    (one line naming it, never a traceback), like a DrkitError once a phase began."""
    try:
        return plugin.drill(request)
    except UsageError as exc:
        if began:
            raise
        raise _Refused(exc) from exc
    except DrkitError:
        raise
    except Exception as exc:  # whatever a plugin's hook raises unexpectedly
        log.debug("drill hook failed", exc_info=True)
        raise DrkitError(f"the {request.config.kind} drill hook failed: {type(exc).__name__}: {exc}") from exc


def _with_archive(repo: Repository, job: str, source: object, catalog: datetime | None) -> datetime | None:
    """The catalog point, moved to the newest archived time of a plugin kind's archive (binary logs …);
    a kind with ``catalog_points`` measured what its archive restores there (the archived time is the
    daemon's freshness, not a restorable point)."""
    kind = getattr(source, "kind", "")
    plugin = source_kind(kind)
    if isinstance(plugin, HasCatalogPoints) or not isinstance(plugin, HasArchive) or not plugin.archives(source):
        return catalog
    at = plugin.newest_archived(repo, source, job)
    if at is None:
        return catalog
    point = datetime.fromtimestamp(at, UTC)
    return point if catalog is None else max(catalog, point)


def _sandbox_for(kind_source: object, requested: str) -> tuple[str, str]:
    kind = getattr(kind_source, "kind", "")
    plugin = source_kind(kind)
    if not isinstance(plugin, HasContainerDrill):
        if requested == "docker":
            raise SandboxUnavailable(
                f"--sandbox docker: a {kind} drill runs only in a local sandbox", hint="use --sandbox local or auto"
            )
        return "local", f"a {kind} drill restores into a local server process"
    why_local = plugin.local_drill(kind_source) if requested != "docker" else None
    return ("local", why_local) if why_local else choose_sandbox(requested)


def run_drill(
    config: DrkitConfig,
    name: str,
    *,
    sandbox: str = "auto",
    snapshot: str | None = None,
    point_in_time: str | None = None,
    extra_targets: ExtraTargets | None = None,
) -> DrillResult:
    """One drill of job ``name``, measured against the job's targets and ``extra_targets`` (a runbook's).
    Raises only for usage errors (unknown job, Docker demanded but unreachable); everything else is
    recorded in the result, which is stored in the repository. Traced as ``drkit.drill`` with one child
    span per phase (``drkit.drill.open``, ``drkit.drill.restore`` …), whose durations are the result's
    ``phases``: back to back from the drill's start, they add up to its RTO (``PhaseClock``)."""
    with tracing.span("drkit.drill", **{"drkit.job": name, "drkit.sandbox": sandbox}) as span:
        result = _run_drill(config, name, sandbox, (snapshot, point_in_time), extra_targets)
        span.set(
            **{
                "drkit.success": result.success,
                "drkit.rto_seconds": result.rto_seconds,
                "drkit.rpo_catalog_seconds": result.rpo_catalog_seconds,
                "drkit.rpo_verified_seconds": result.rpo_verified_seconds,
                "drkit.snapshot_id": result.snapshot_id,
            }
        )
    return result


def _run_drill(
    config: DrkitConfig,
    name: str,
    sandbox: str,
    which: tuple[str | None, str | None],
    extra_targets: ExtraTargets | None,
) -> DrillResult:
    snapshot, point_in_time = which
    job = config.job(name)
    phases, started = PhaseClock(), clock.utcnow()  # the RTO clock starts with the drill
    used, why = _sandbox_for(job.source, sandbox)
    log.info("drill started", extra={"job": name, "sandbox": used, "reason": why})
    result = DrillResult(
        job=name,
        source_kind=job.source.kind,
        sandbox=used,
        started_at=started.isoformat(),
        point_in_time=point_in_time,
        phases=phases.phases,
    )
    targets = (job.targets, extra_targets)
    try:
        with phases.phase("open"):  # choosing the sandbox, opening the repository (reading its keys)
            repo, url = open_job_repository(config, job)
    except DrkitError as exc:
        result.checks.append(CheckResult("repository.open", False, exc.message))
        return _finish(result, targets, None, phases, started, None)
    try:
        passphrase = config.repositories[job.repository].passphrase.as_passphrase_source().read()
        with workdir(name) as work:
            systems = tuple(s for s, spec in sorted(config.systems.items()) if name in spec.jobs)
            ctx = DrillContext(
                name=name,
                job=job,
                repo=repo,
                repo_url=url,
                passphrase=passphrase,
                sandbox=used,
                workdir=work,
                snapshot=snapshot,
                point_in_time=point_in_time,
                systems=systems,
                clock=phases,
            )
            outcome = _run_kind(ctx)
        result.snapshot_id, result.checks = outcome.snapshot_id, outcome.checks
        result.not_verified = outcome.not_verified
        result.point_reached = outcome.point_reached
        result.sandbox = outcome.sandbox or used  # a plugin's hook says where it restored
        result.system_heartbeats = {s: at.isoformat() if at else None for s, at in outcome.system_heartbeats.items()}
        _canary_check(result, job.canary_enabled, outcome, started, repo)
        if phases.verified_ns is not None and result.checks_ok:  # teardown is not part of recovery
            result.rto_seconds = phases.seconds(phases.verified_ns)
        # a measurement, not part of the recovery; the base restored counts even if no job run took it
        catalog = _with_archive(repo, name, job.source, newest_point(repo, name, job.source, also=outcome.snapshot_id))
        return _finish(result, targets, repo, phases, started, catalog)
    finally:
        repo.close()


def _run_kind(ctx: DrillContext) -> KindOutcome:
    try:
        return _drill_of(ctx.job.source.kind)(ctx)
    except SandboxUnavailable:
        raise  # no drill took place: one line and exit 2, like an unreachable Docker engine
    except _Refused as refused:
        raise refused.error from None  # the kind refused the request: its own line and exit code
    except DrkitError as exc:
        return KindOutcome(checks=[CheckResult("restore", False, exc.message)])


def _canary_check(result: DrillResult, enabled: bool, outcome: KindOutcome, now: datetime, repo: Repository) -> None:
    """The verified RPO from the newest canary; if ``enabled``, a check that there is one — unless the drill
    is of a point in time no run of the job preceded (nothing wrote a canary before it): then a note."""
    canary = outcome.canary
    if canary is not None:
        result.rpo_verified_seconds = round(max(0.0, (now - canary).total_seconds()), 3)
        result.rpo_basis = "canary: the newest canary found in the restored data"
    elif not enabled:
        result.rpo_basis = (
            "catalog: the newest recoverable point the repository records (no canary: "
            "canary.enabled is off for this job)"
        )
    if not enabled or not result.checks_ok:
        return
    when = result.point_reached or result.point_in_time  # a run after the point reached left nothing in the data
    if canary is None and when is not None and not ran_before(repo, result.job, result.source_kind, when):
        result.not_verified.append(
            f"canary: no run of job {result.job} before {when} wrote one; the verified RPO is not measured"
        )
        return
    detail = f"newest canary written {canary.isoformat()}" if canary else "no canary in the restored data"
    result.checks.append(CheckResult("canary", canary is not None, detail))


def _finish(
    result: DrillResult,
    targets: tuple[Targets, ExtraTargets | None],
    repo: Repository | None,
    phases: PhaseClock,
    started: datetime,
    catalog: datetime | None,
) -> DrillResult:
    name = result.job
    if result.checks_ok and result.rto_seconds is None:
        result.rto_seconds = phases.seconds()
    if catalog is not None:
        result.rpo_catalog_seconds = round(max(0.0, (started - catalog).total_seconds()), 3)
    result.targets = evaluate_targets(targets[0], result, targets[1])
    if repo is not None:
        _store(repo, result)
    log.info("drill finished", extra={"job": name, "success": result.success, "rto_s": result.rto_seconds})
    return result


def _store(repo: Repository, result: DrillResult) -> None:
    from .history import save_result

    try:
        save_result(repo.manifests, result)
    except DrkitError as exc:
        log.warning("drill result not stored", extra={"job": result.job, "error": exc.message})
