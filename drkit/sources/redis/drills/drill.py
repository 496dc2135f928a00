"""Redis drill: write the RDB/AOF (or the point-in-time AOF cut) into a temp directory with the same
code as `drkit restore redis`, start a server on it (local process or redis:7 container), verify.

A point-in-time drill reaches what `drkit restore redis --point-in-time` reaches for this server: the
job's own snapshots, else the AOF archive the source's ``name`` names (what `drkit redis aof-archive
--name` records, default ``redis``) — which may reach back before the job's first snapshot (an older
AOF base). Key counts and sampled values are recorded per snapshot, not per instant: a point-in-time
drill does not compare them and says so; the user's checks and the canary still run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime

import redis

from ....core.errors import DrkitError, UsageError
from ....drills.context import DrillContext, KindOutcome
from ....drills.result import CheckResult
from ....drills.verify.user import verify_user_checks
from ....ops.facts import load_facts
from ....repository import snapshots
from .. import facts as redis_facts
from ..config import RedisSource
from ..ops import RestoreOptions, RestoreResult, restore_redis
from ..restore import server_on
from .sandbox import docker_redis
from .verify import redis_check, verify_redis

REDIS_MAJOR = "7"
_CLUSTER_NOT_DRILLED = (
    "a Redis Cluster snapshot ({} shards, one RDB per master) is not drilled: the sandbox "
    "is one server; restore it with `drkit restore redis --target-dir` or `--to-url` a cluster"
)


@contextmanager
def _server(ctx: DrillContext, aof: bool) -> Iterator[redis.Redis]:
    data = ctx.workdir / "data"
    if ctx.sandbox == "docker":
        with docker_redis(data, ctx.job.drill.images.get("redis", f"redis:{REDIS_MAJOR}"), aof=aof) as client:
            yield client
        return
    server = server_on(data, aof=aof, private=True).start()  # no other local user reads the data meanwhile
    try:
        client = server.client()
        try:
            yield client
        finally:
            client.close()
    finally:
        server.stop()


def drill_redis(ctx: DrillContext) -> KindOutcome:
    ref = None if ctx.point_in_time else (ctx.snapshot or "latest")
    # the sandbox's copy is read once by a throwaway server and deleted: no fsync (nor does `cp`)
    opts = RestoreOptions(
        target_dir=ctx.workdir / "data",
        point_in_time=ctx.point_in_time,
        name=ctx.name,
        durable=False,
        accept_older=True,  # a drill measures: the point reached and its note are in its report
    )
    with ctx.phase("restore"):
        restored = _restore(ctx, ref, opts)
    out = KindOutcome(snapshot_id=_snapshot_id(ctx, restored.snapshot), point_reached=restored.point_reached)
    if restored.note:
        out.not_verified.append(f"point in time: {restored.note}")
    if restored.kind.endswith("cluster"):  # one directory per shard: a server on the directory holds none
        out.checks.append(CheckResult("redis.cluster", False, _CLUSTER_NOT_DRILLED.format(len(restored.shards or []))))
        return out
    try:
        with ExitStack() as stack:
            with ctx.phase("start"):
                client = stack.enter_context(_server(ctx, aof=restored.kind.endswith("aof")))
            _verify(ctx, client, out.snapshot_id, out)
    except redis.RedisError as exc:
        out.checks.append(CheckResult("redis.start", False, " ".join(str(exc).split())[:200]))
    return out


def _restore(ctx: DrillContext, ref: str | None, opts: RestoreOptions) -> RestoreResult:
    """Restore as the job's data allows; a time its snapshots do not cover may be in the source's AOF
    archive (recorded under the source's ``name``). Restore checks everything before writing a byte."""
    try:
        return restore_redis(ctx.repo, ref, opts)
    except UsageError as exc:
        source = ctx.job.source
        archive = source.name if isinstance(source, RedisSource) else ctx.name
        if ctx.point_in_time is None or archive == ctx.name:
            raise
        try:
            return restore_redis(ctx.repo, ref, replace(opts, name=archive))
        except UsageError as again:
            raise UsageError(
                f"{exc.message}; nor by the AOF archive recorded as {archive!r}: {again.message}",
                hint="the AOF archive of this server is found under the job's source `name` "
                "(drkit redis aof-archive --name)",
            ) from None


def _snapshot_id(ctx: DrillContext, ref: str) -> str:
    """The full id of the snapshot restored (a point-in-time AOF cut may name its base file instead)."""
    try:
        return snapshots.find(ctx.repo.manifests, ref, source_kind="redis").id
    except DrkitError:
        return ref


def _verify(ctx: DrillContext, client: redis.Redis, snapshot_id: str, out: KindOutcome) -> None:
    pitr = ctx.point_in_time is not None
    facts = None if pitr else load_facts(ctx.repo, snapshot_id)
    if pitr:
        out.not_verified.append(
            "facts: key counts and sampled values are recorded for snapshots, not for a point in time: not compared"
        )
    with ctx.phase("verify"):
        out.checks = verify_redis(client, facts, compare_data=not pitr, require_facts=not pitr)
        out.checks += verify_user_checks(ctx.job.checks, redis=redis_check(client))
        millis = redis_facts.read_canary(client, ctx.name)
        out.system_heartbeats = {s: redis_facts.read_heartbeat(client, s) for s in ctx.systems}
    out.canary = datetime.fromtimestamp(millis / 1000, tz=UTC) if millis is not None else None
