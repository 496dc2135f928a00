"""PostgreSQL drills.

Logical: an empty sandbox cluster (local ``initdb`` or a postgres:15 container), then the same
``restore_logical`` as `drkit restore postgres --logical --globals` (the backup's roles created;
a dump of ``postgres`` goes into the sandbox's own empty ``postgres``). Physical / point-in-time: the same
``restore_pitr`` as `drkit restore postgres --point-in-time` unpacks the base backup and writes the
recovery config; the server then replays archived WAL (``drkit pg wal-fetch``) to the target — the
snapshot's own end (its stop LSN) for a snapshot drill, or ``--point-in-time``."""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from ....core.errors import DrkitError
from ....drills.context import DrillContext, KindOutcome
from ....drills.result import CheckResult
from ....drills.sandbox.workdir import give_to, sandbox_os_user
from ....drills.verify.user import verify_user_checks
from ....ops.facts import load_facts
from ....ops.secrets import PassphraseSource
from ....repository import snapshots
from ....repository.snapshots import Snapshot
from .. import canary as pg_canary
from .. import logical, recovery
from ..config import PostgresSource
from ..conn import PgConn
from ..ops import PitrRequest, restore_pitr
from ..pitr import Target, parse_time
from ..sql import scalar
from .sandbox import SUPERUSER, container_restore_command, docker_postgres, docker_recovery, local_postgres
from .verify import sql_check, verify_postgres

PG_MAJOR = "15"


def _job_snapshot(ctx: DrillContext, mode: str) -> Snapshot:
    if ctx.snapshot:
        return snapshots.find(ctx.repo.manifests, ctx.snapshot, source_kind="postgres")
    found = [
        s
        for s in snapshots.load_all(ctx.repo.manifests)
        if s.source_kind == "postgres" and s.source_name == ctx.name and s.meta.get("mode") == mode
    ]
    if not found:
        raise DrkitError(f"no {mode} PostgreSQL snapshot of job {ctx.name} in the repository")
    snapshots.refuse_past_damaged(ctx.repo.manifests, found[-1], "the newest")  # a drill of an older one is no proof
    return found[-1]


def drill_postgres(ctx: DrillContext) -> KindOutcome:
    source = ctx.job.source
    assert isinstance(source, PostgresSource)
    if ctx.point_in_time or source.mode == "physical":
        return _drill_physical(ctx)
    return _drill_logical(ctx)


def _verify(
    ctx: DrillContext, conn: PgConn, snap: Snapshot, dbname: str, out: KindOutcome, *, compare_data: bool
) -> None:
    facts = load_facts(ctx.repo, snap.id)
    # a point-in-time drill may start from any base backup; one no job run took has no facts (nor,
    # necessarily, a canary before the target): verify the rest, and say what was not verified
    optional = ctx.point_in_time is not None and facts is None
    with ctx.phase("verify"):
        out.checks += verify_postgres(conn, facts, compare_data=compare_data, require_facts=not optional)
        out.checks += verify_user_checks(ctx.job.checks, sql=sql_check(conn, dbname))
        out.canary = pg_canary.read(conn, ctx.name, dbname)
        out.system_heartbeats = {s: pg_canary.read_heartbeat(conn, s, dbname) for s in ctx.systems}
    if optional:
        out.not_verified.append(
            f"facts: base backup {snap.short_id} has none (no `drkit job run` took it): "
            "the databases present are not compared with a record"
        )
    elif not compare_data:
        out.not_verified.append(
            "row counts and checksums: recorded at the base backup, not at the point in "
            "time: not compared (the databases present are)"
        )


def _drill_logical(ctx: DrillContext) -> KindOutcome:
    snap = _job_snapshot(ctx, "logical")
    out = KindOutcome(snapshot_id=snap.id)
    image = ctx.job.drill.images.get("postgres", f"postgres:{PG_MAJOR}")
    encoding = str(snap.meta.get("database_facts", {}).get("encoding") or "UTF8")
    sandbox = docker_postgres(image, encoding) if ctx.sandbox == "docker" else local_postgres(ctx.workdir, encoding)
    with ctx.phase("start"):
        conn = sandbox.__enter__()
    try:
        with ctx.phase("restore"):
            target = replace(conn, dbname=None)  # restore into the snapshot's own database name
            # a fresh sandbox: the backup's roles are created (its own superuser is left as it is),
            # and a dump of `postgres` goes into the sandbox's empty `postgres`
            opts = logical.LogicalRestore(target=target, with_globals=True, tmp_dir=ctx.workdir)
            dbname = logical.restore_logical(ctx.repo, snap, opts).database
        _verify(ctx, conn, snap, dbname, out, compare_data=True)
    finally:
        sandbox.__exit__(None, None, None)
    return out


def _passphrase_file(ctx: DrillContext, os_user: str | None) -> Path:
    """The passphrase for the server's restore_command, in the drill's private directory."""
    path = ctx.workdir / "repository-passphrase"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(ctx.passphrase + "\n")
    give_to(path, os_user)
    return path


def _repo_url_for_server(url: str) -> str:
    return str(Path(url).resolve()) if "://" not in url else url


def _sandbox_hba(data_dir: Path) -> None:
    """The sandbox server accepts only its private socket, without a password (it is throwaway)."""
    (data_dir / "pg_hba.conf").write_text("local all all trust\n")


def _drill_physical(ctx: DrillContext) -> KindOutcome:
    docker = ctx.sandbox == "docker"
    os_user = None if docker else sandbox_os_user()
    if ctx.point_in_time:
        target = Target("time", parse_time(ctx.point_in_time).isoformat())
        snap_ref = ctx.snapshot
    else:
        snap = _job_snapshot(ctx, "physical")
        target, snap_ref = Target("lsn", str(snap.meta["stop_lsn"])), snap.id
    data = ctx.workdir / "data"
    # in a container the server replays only the WAL drkit prefetched: no drkit, no passphrase there
    secret = PassphraseSource() if docker else PassphraseSource(file=_passphrase_file(ctx, os_user))
    req = PitrRequest(
        target=target,
        target_dir=data,
        repo_url=_repo_url_for_server(ctx.repo_url),
        secret=secret,
        snapshot=snap_ref,
        os_user=os_user,
        restore_command=container_restore_command() if docker else None,
    )
    with ctx.phase("restore"):
        base, _ = restore_pitr(ctx.repo, req)
    out = KindOutcome(snapshot_id=base.id)
    if docker:
        _recover_in_container(ctx, data, base, target, out)
        return out
    _sandbox_hba(data)
    try:
        with ctx.phase("recovery"):
            rec = recovery.start_recovery(data, os_user=os_user)
    except DrkitError as exc:
        out.checks.append(CheckResult("postgres.recovery", False, exc.message))
        recovery.stop(data, os_user=os_user, mode="immediate")
        return out
    out.checks.append(
        CheckResult(
            "postgres.recovery",
            True,
            f"replayed to {rec.replay_lsn} ({target.describe()})",
            ctx.phases.get("recovery", 0.0),
        )
    )
    try:
        conn = PgConn(
            host=str(data), port=rec.port, user=os.environ.get("PGUSER") or os_user or SUPERUSER, dbname="postgres"
        )
        _verify(ctx, conn, base, _job_dbname(ctx), out, compare_data=ctx.point_in_time is None)
    finally:
        recovery.stop(data, os_user=os_user, mode="immediate")
    return out


def _job_dbname(ctx: DrillContext) -> str:
    source = ctx.job.source
    return (PgConn.from_url(source.dsn).dbname if isinstance(source, PostgresSource) else None) or "postgres"


def _recover_in_container(ctx: DrillContext, data: Path, base: Snapshot, target: Target, out: KindOutcome) -> None:
    """Recovery, then the same verification, in a ``postgres:<major>`` container on the restored
    directory; the container is removed however this ends."""
    image = ctx.job.drill.images.get("postgres", f"postgres:{PG_MAJOR}")
    with ExitStack() as stack:
        try:
            with ctx.phase("recovery"):
                conn = stack.enter_context(docker_recovery(data, image))
                lsn = scalar(conn, "SELECT pg_last_wal_replay_lsn()")
        except DrkitError as exc:
            out.checks.append(CheckResult("postgres.recovery", False, exc.message))
            return
        out.checks.append(
            CheckResult(
                "postgres.recovery", True, f"replayed to {lsn} ({target.describe()})", ctx.phases.get("recovery", 0.0)
            )
        )
        _verify(ctx, conn, base, _job_dbname(ctx), out, compare_data=ctx.point_in_time is None)
