"""Redis use cases: back up (RDB or AOF directory), archive AOF growth, restore (directory,
running server, point in time), and list recoverable windows."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ...core import clock, tracing
from ...core.errors import DrkitError, LockLost, UsageError
from ...core.timespec import format_time
from ...repository import snapshots
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ...repository.streams import part_root
from . import aof, catalog, cluster, history, pitr, pitr_guard
from . import restore as rr
from .aof_round import Ends, HeldRounds, archive_once
from .backup import FSYNC_SLACK, backup_aof_dir, backup_rdb
from .conn import RedisTarget, connected, resolve
from .streamfile import restore_root

AOF_DIRNAME = "appendonlydir"


@dataclass(frozen=True)
class BackupOptions:
    """A remote RDB (``target``) or a host-local AOF directory (``aof_dir``, settings checked
    through ``target`` when given)."""

    target: RedisTarget | None = None
    aof_dir: Path | None = None
    tags: tuple[str, ...] = ()
    diskless: bool = True


def backup_redis(
    repo: Repository, name: str, opts: BackupOptions, progress: Callable[[int], None] | None = None
) -> Snapshot:
    with tracing.span("drkit.backup", **{"drkit.source_kind": "redis"}) as span:
        snap = _backup_redis(repo, name, opts, progress)
        span.set(**{"drkit.snapshot_id": snap.id})
    return snap


def _backup_redis(repo: Repository, name: str, opts: BackupOptions, progress: Callable[[int], None] | None) -> Snapshot:
    target, aof_dir, tags = opts.target, opts.aof_dir, list(opts.tags)
    with repo.lock(purpose="backup"):
        if aof_dir is None:
            if target is None:
                raise UsageError("give --url (remote RDB) or --aof-dir (host-local AOF directory)")
            target = resolve(target)
            with connected(target) as c:
                is_cluster = cluster.is_cluster(c)
            if is_cluster:  # one node holds only its slots: take every master
                return cluster.backup_cluster(repo, target, name, tags, progress, diskless=opts.diskless)
            return backup_rdb(repo, target, name, tags, progress, diskless=opts.diskless)
        extra: dict[str, Any] = {}
        if target is not None:
            with connected(resolve(target)) as c:
                aof.check_settings(c, for_pitr=False)
                extra["url"] = target.display
                if cluster.is_cluster(c):  # recorded; the CLI warns that this is a part of the data
                    extra["cluster_node"] = cluster.own_slots(c)
        return backup_aof_dir(repo, aof_dir, name, tags, extra)


def check_archive_settings(target: RedisTarget | None) -> list[str]:
    if target is None:
        return ["no --url given: Redis settings not checked (need appendonly yes, aof-timestamp-enabled yes)"]
    with connected(resolve(target)) as c:
        warnings = aof.check_settings(c, for_pitr=True)
        if cluster.is_cluster(c):
            warnings.append(cluster.part_warning(cluster.own_slots(c)))
        return warnings


class _TimestampWatch:
    """Asks the server, each round, whether it writes AOF timestamp annotations; the bytes a round archives
    are annotated (True) only when the setting was on at this check and the one before, on the same
    server process (``run_id``: a restart may have dropped the setting). False when off now or before;
    None when unknown (no ``--url``, the first round, the server not answering)."""

    def __init__(self, target: RedisTarget | None) -> None:
        self.target = target
        self._last: tuple[str, bool] | None = None

    def _ask(self) -> tuple[str, bool] | None:
        assert self.target is not None
        try:
            with connected(resolve(self.target)) as c:
                on = str(c.config_get("aof-timestamp-enabled").get("aof-timestamp-enabled")) == "yes"
                return str(c.info("server").get("run_id")), on
        except DrkitError:
            return None

    def round(self) -> bool | None:
        if self.target is None:
            return None
        last, now = self._last, self._ask()
        self._last = now
        if now is not None and not now[1]:
            return False
        if last is not None and not last[1]:
            return False  # off at the last check: this round's bytes may have been written then
        if now is None or last is None or last[0] != now[0]:
            return None
        return True


@dataclass(frozen=True, kw_only=True)
class Follow:
    """How ``aof_archive`` keeps going: every ``interval`` seconds until ``stop`` is set (or once);
    ``on_round(covered, docs)`` hears each round that succeeded: every write made before ``covered``
    (the round's start less the fsync slack) is in the repository."""

    interval: float
    once: bool = False
    stop: threading.Event | None = None
    on_round: Callable[[float, list[dict[str, Any]]], None] | None = None
    on_held: Callable[[], None] | None = None  # a round that read nothing: a restore holds the directory


def aof_archive(
    repo: Repository,
    aof_dir: Path,
    name: str,
    follow: Follow,
    report: Callable[[dict[str, Any]], None],
    target: RedisTarget | None = None,
) -> int:
    """Archive new AOF files and growth (only the bytes new since the last round, ending at a whole
    command) each round; returns segments. With ``target``, each round records whether the server
    annotated what it archives (``_TimestampWatch``). After a restart it goes on from the records."""
    total = 0
    watch, held = _TimestampWatch(target), HeldRounds(follow.once, follow.on_held)
    stop = follow.stop or threading.Event()
    with repo.lock(purpose="aof-archive") as lock:
        ends: Ends = {}
        while not lock.lost:
            started = clock.now()
            try:
                docs = archive_once(repo, aof_dir, name, ends, ts_enabled=watch.round())
            except history.RestoreInProgress as exc:  # read nothing: not a round that succeeded
                held.round(exc)
                docs = None
            if docs is not None:
                held.ended()
                for doc in docs:
                    report(doc)
                total += len(docs)
                if follow.on_round is not None:
                    follow.on_round(started - FSYNC_SLACK, docs)
            if follow.once or stop.wait(max(0.0, follow.interval - (clock.now() - started))):
                return total
            # between rounds nothing read earlier is held: let prunes settle marks made since the lock
            repo.renew_view(lock)
    raise LockLost(
        "the repository lock could not be refreshed; archiving stopped",
        hint="check the repository's storage, then restart aof-archive",
    )


@dataclass(frozen=True, kw_only=True)
class RestoreResult:
    snapshot: str
    kind: str  # rdb | aof | cluster | pitr-aof | pitr-rdb | pitr-cluster
    target: str
    keys: dict[int, int] | None = None
    pid: int | None = None
    port: int | None = None
    shards: list[str] | None = None  # a cluster snapshot: one directory per shard, named by node id
    point_in_time: str | None = None  # the time asked for
    point_reached: str | None = None  # the instant whose state was restored (never after point_in_time)
    note: str | None = None  # why the point reached is not the time asked for, when it is not


def _find(repo: Repository, ref: str | None, name: str | None) -> Snapshot:
    snap = snapshots.find(repo.manifests, ref or "latest", source_kind="redis", source_name=name)
    if snap.source_kind != "redis":
        raise UsageError(f"snapshot {snap.short_id} is a {snap.source_kind} snapshot, not a Redis one")
    return snap


def _write_part(repo: Repository, snap: Snapshot, part: str, path: Path, *, durable: bool = True) -> int:
    where = f"snapshot {snap.short_id} part {part}"
    return restore_root(repo, part_root(snap, part), path, where=where, durable=durable)


def _write_rdb(repo: Repository, snap: Snapshot, path: Path, *, durable: bool = True) -> int:
    return restore_root(repo, snap.root, path, where=f"snapshot {snap.short_id}", durable=durable)


def _write_snapshot(repo: Repository, snap: Snapshot, target_dir: Path, *, durable: bool = True) -> str:
    """Every file verified, written under a temp name, fsynced (when ``durable``), renamed into place."""
    if snap.meta.get("mode") == "cluster":
        cluster.write_shards(snap, target_dir, lambda part, path: _write_part(repo, snap, part, path, durable=durable))
        return "cluster"
    if snap.meta.get("mode") == "aof":
        aof_dir = target_dir / AOF_DIRNAME
        with history.restoring(aof_dir):  # a new history; no archiver round reads it meanwhile
            for part in [*(f["name"] for f in snap.meta["files"]), snap.meta["manifest"]]:
                _write_part(repo, snap, part, aof_dir / part, durable=durable)
        return "aof"
    _write_rdb(repo, snap, target_dir / "dump.rdb", durable=durable)
    return "rdb"


def _aof_at(
    pieces: list[pitr.Piece], cut: pitr.AofCut, target_dir: Path, of: str | None, durable: bool
) -> tuple[str, str]:
    group = pitr.choose_group(history.only(pitr.group_pieces(pieces), of), cut)
    files, plans = pitr.plan_group(group)  # all checks before the first byte is written
    pitr.verify(pitr.to_verify(group, plans))  # names a restore trusts without replaying them
    files = pitr.files_to_cut(files, group, cut)
    manifest = "appendonly.aof.manifest"
    # a new history, written last (``history_dir``); the files written and cut here fsynced before it
    with history.restoring(target_dir / AOF_DIRNAME, sync_files=durable):
        try:  # a piece gone or damaged (exit 13) or a tail refused (exit 2): no half restore left behind
            pitr.write_group(target_dir / AOF_DIRNAME, manifest, files, plans)
            pitr_guard.check_tail(target_dir / AOF_DIRNAME, files, group, cut)
        except DrkitError:
            for f in [*files, aof.AofFile(manifest, 0, "m")]:  # written just now: leave no half restore behind
                (target_dir / AOF_DIRNAME / f.name).unlink(missing_ok=True)
            raise
        pitr.truncate_to(target_dir / AOF_DIRNAME, manifest, files, cut)
    return group.base, "pitr-aof"


@dataclass(frozen=True, kw_only=True)
class RestoreOptions:
    """Where and how to restore: exactly one of ``target_dir`` and ``to_url``."""

    target_dir: Path | None = None
    to_url: RedisTarget | None = None
    point_in_time: str | None = None
    name: str | None = None
    history: str | None = None  # a point in time from this server history's AOF only (``history.only``)
    force: bool = False
    start: bool = False
    port: int | None = None
    durable: bool = True  # fsync the restored files; False for a throwaway copy (a drill's sandbox)
    accept_older: bool = False  # a point in time after the newest RDB (no AOF): restore that RDB anyway


def _check_cluster(snap: Snapshot, opts: RestoreOptions) -> None:
    """A cluster snapshot restores into per-shard directories or a running server / cluster."""
    if snap.meta.get("mode") == "cluster" and opts.start:
        raise UsageError(
            f"snapshot {snap.short_id} is of a Redis Cluster ({len(snap.meta['shards'])} masters): "
            "--start is not supported for it",
            hint="restore it with --target-dir DIR (DIR/<node-id>/dump.rdb per shard) or --to-url",
        )


def _rdb_at(repo: Repository, when: float, name: str | None) -> Snapshot:
    """``catalog.rdb_at``, refused (exit 13, as ``latest`` is) when a damaged Redis manifest stored after the
    RDB chosen started and by ``when`` may be the RDB at ``when``: restoring an older one in its place (or
    saying there is none) is a wrong answer. ``--skip-damaged`` (``manifests.past_damaged``) accepts it."""
    try:
        chosen = catalog.rdb_at(repo, when, name)
    except UsageError:
        _refuse_damaged(repo, None, when, name)
        raise
    _refuse_damaged(repo, chosen, when, name)
    return chosen


def _refuse_damaged(repo: Repository, chosen: Snapshot | None, when: float, name: str | None) -> None:
    """``snapshots.refuse_damaged_until`` up to ``when`` plus the longest Redis backup seen (one taken at
    ``when`` is stored later)."""
    longest = max(
        (
            datetime.fromisoformat(s.end_time) - datetime.fromisoformat(s.time)
            for s in catalog.redis_snapshots(repo, name)
            if s.end_time
        ),
        default=timedelta(0),
    )
    store = repo.manifests
    snapshots.refuse_damaged_until(
        store,
        chosen,
        datetime.fromtimestamp(when, UTC) + longest,
        pitr.iso(when),
        possible=lambda key: snapshots.could_match(store, key, None, "redis", name),
    )


@dataclass(frozen=True)
class _Placed:
    """What ``_place`` wrote: the snapshot (or AOF base) and kind, and for a point in time the instant
    reached and, when that is not the time asked for, why."""

    snapshot: str
    kind: str
    point: str | None = None
    note: str | None = None


def _place(repo: Repository, ref: str | None, opts: RestoreOptions, directory: Path, *, durable: bool) -> _Placed:
    """Write what the restore asks for into ``directory``: a snapshot, or the state at the point in
    time (the AOF cut before it, else the newest RDB that ended at or before it)."""
    if opts.point_in_time is None:
        snap = _find(repo, ref, opts.name)
        _check_cluster(snap, opts)
        return _Placed(snap.short_id, _write_snapshot(repo, snap, directory, durable=durable))
    when = pitr.parse_time(opts.point_in_time)
    pieces = catalog.aof_pieces(repo, opts.name)
    if pieces or opts.history is not None:
        cut = pitr.aof_cut(when)
        base, kind = _aof_at(pieces, cut, directory, opts.history, durable)
        point = format_time(datetime.fromtimestamp(cut.point, UTC))
        return _Placed(base, kind, point, None if cut.exact else cut.note())
    snap = _rdb_at(repo, when, opts.name)
    _check_cluster(snap, opts)
    late = catalog.past_the_last_rdb(repo, snap, when, accept=opts.accept_older)  # refused unless accepted
    kind = "pitr-" + _write_snapshot(repo, snap, directory, durable=durable)
    return _Placed(
        snap.short_id,
        kind,
        format_time(catalog.snapshot_time(snap)),
        late or f"the newest RDB snapshot that ended at or before the time asked for (taken {snap.time})",
    )


def _load_into(repo: Repository, ref: str | None, opts: RestoreOptions, to_url: RedisTarget) -> RestoreResult:
    """The same files a ``--target-dir`` restore writes, built in a temp dir, loaded by a throwaway
    server and copied key by key into ``to_url``."""
    placed: list[_Placed] = []

    def place(tmp: Path) -> list[tuple[Path, bool]]:  # files a throwaway server reads once: no fsync
        placed.append(_place(repo, ref, opts, tmp, durable=False))
        if placed[0].kind.endswith("cluster"):
            return [(tmp / shard, False) for shard in cluster.shard_dirs(tmp)]
        return [(tmp, placed[0].kind.endswith("aof"))]

    keys = rr.load_into(resolve(to_url), place, force=opts.force)
    return _result(opts, placed[0], to_url.display, keys=keys)


def _result(opts: RestoreOptions, placed: _Placed, target: str, **more: Any) -> RestoreResult:
    asked = format_time(pitr.parse_time_utc(opts.point_in_time)) if opts.point_in_time is not None else None
    return RestoreResult(
        snapshot=placed.snapshot,
        kind=placed.kind,
        target=target,
        point_in_time=asked,
        point_reached=placed.point,
        note=placed.note,
        **more,
    )


def restore_redis(repo: Repository, ref: str | None, opts: RestoreOptions) -> RestoreResult:
    if (opts.target_dir is None) == (opts.to_url is None):
        raise UsageError("give exactly one of --target-dir and --to-url")
    if opts.start and opts.to_url is not None:
        raise UsageError("--start starts a server on --target-dir; --to-url loads into a running one")
    if opts.history is not None and (opts.point_in_time is None or not history.valid(opts.history)):
        raise UsageError(
            f"--history {opts.history}: give a 12-hex-digit history id, with --point-in-time",
            hint="`drkit redis windows` lists each AOF group's history",
        )
    with tracing.span("drkit.restore", **{"drkit.source_kind": "redis"}):
        return _restore_redis(repo, ref, opts)


def _restore_redis(repo: Repository, ref: str | None, opts: RestoreOptions) -> RestoreResult:
    with repo.lock(purpose="restore"):
        if opts.to_url is not None:
            return _load_into(repo, ref, opts, opts.to_url)
        target_dir = opts.target_dir
        assert target_dir is not None
        rr.prepare_dir(target_dir, force=opts.force)
        placed = _place(repo, ref, opts, target_dir, durable=opts.durable)
    if not opts.start:
        shards = cluster.shard_dirs(target_dir) if placed.kind.endswith("cluster") else None
        return _result(opts, placed, str(target_dir), shards=shards)
    server = rr.start_server(target_dir, aof=placed.kind.endswith("aof"), port=opts.port)
    return _result(opts, placed, str(target_dir), port=server.port, pid=server.detach())


def redis_windows(repo: Repository, name: str | None = None) -> list[dict[str, Any]]:
    return catalog.windows(repo, name)
