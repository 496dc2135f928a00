"""PostgreSQL use cases: backup (logical or physical), logical restore, point-in-time restore,
the WAL archive commands, archive-check and the recoverable windows of base backups."""

from __future__ import annotations

import shlex
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ...core import clock, tracing
from ...core.errors import UsageError
from ...ops.secrets import PassphraseSource
from ...ops.session import open_repository
from ...repository import snapshots
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from . import localbase, locate, logical, physical, pitr, prefetch, recovery, wal, walstream, walwait
from .conn import PgConn
from .errors import PostgresError, TargetUnreachable
from .localbase import LocalOptions
from .sql import scalar

ARCHIVE_TIMEOUT = 60.0  # seconds a base backup waits for its WAL to be archived


def backup_postgres(  # noqa: PLR0913
    repo: Repository,
    conn: PgConn,
    *,
    logical_mode: bool,
    name: str | None = None,
    tags: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
    archive_timeout: float = ARCHIVE_TIMEOUT,
    local: LocalOptions | None = None,
) -> Snapshot:
    """A logical dump, or a base backup that ends once its WAL is archived (``archive_timeout``
    seconds at most, 0: do not wait; not waited for when the server's archive_mode is off). With
    ``local``, drkit copies the data directory itself (``localbase``; full or incremental), and always
    waits for the WAL (``ARCHIVE_TIMEOUT`` if ``archive_timeout`` is 0): that copy holds none."""
    mode = "logical" if logical_mode else "physical"
    with tracing.span("drkit.backup", **{"drkit.source_kind": "postgres", "drkit.mode": mode}) as span:
        if local is not None and not logical_mode:
            snap = _backup_local(repo, conn, local, name, tags, progress, archive_timeout or ARCHIVE_TIMEOUT)
        else:
            snap = _backup_postgres(repo, conn, logical_mode, name, tags, progress, archive_timeout)
        span.set(**{"drkit.snapshot_id": snap.id})
    return snap


def _backup_postgres(  # noqa: PLR0913
    repo: Repository,
    conn: PgConn,
    logical_mode: bool,
    name: str | None,
    tags: list[str] | None,
    progress: Callable[[int], None] | None,
    archive_timeout: float,
) -> Snapshot:
    with repo.lock(purpose="backup"):
        if logical_mode:
            return logical.backup_logical(repo, conn, name=name, tags=tags, progress=progress)
        snap = physical.backup_physical(repo, conn, name=name, tags=tags, progress=progress)
    if archive_timeout > 0 and snap.meta.get("archive_mode") != "off":
        walwait.wait_for_wal(repo, conn, snap, archive_timeout)
    return snap


def _backup_local(  # noqa: PLR0913
    repo: Repository,
    conn: PgConn,
    local: LocalOptions,
    name: str | None,
    tags: list[str] | None,
    progress: Callable[[int], None] | None,
    archive_timeout: float,
) -> Snapshot:
    with repo.lock(purpose="backup"):
        snap = localbase.backup_local(
            repo, conn, physical.server_facts(conn), local, name=name, tags=tags, progress=progress
        )
    walwait.wait_for_wal(repo, conn, snap, archive_timeout)
    return snap


def restore_logical(
    repo: Repository, ref: str, opts: logical.LogicalRestore
) -> tuple[Snapshot, logical.LogicalOutcome]:
    with (
        repo.lock(purpose="restore"),
        tracing.span("drkit.restore", **{"drkit.source_kind": "postgres", "drkit.mode": "logical"}),
    ):
        if ref == "latest":
            dumps = [
                s
                for s in snapshots.load_all(repo.manifests)
                if s.source_kind == "postgres" and s.meta.get("mode") == "logical"
            ]
            if not dumps:
                raise UsageError("no logical PostgreSQL snapshot in the repository")
            snapshots.refuse_several_sources(  # two databases' dumps: the newest may be the other's
                dumps, ref, "give the dump's snapshot id; `drkit snapshots --source postgres` lists them"
            )
            snap = dumps[-1]
            snapshots.refuse_past_damaged(repo.manifests, snap)
        else:
            snap = snapshots.find(repo.manifests, ref, source_kind="postgres")
        return snap, logical.restore_logical(repo, snap, opts)


# -- WAL archive ---------------------------------------------------------------------------------


def wal_push(url: str, secret: PassphraseSource, path: Path) -> bool:
    """archive_command: True if stored, False if the identical file was already archived."""
    repo = open_repository(url, secret, load_index=False)
    try:
        return wal.push(repo, path)
    finally:
        repo.close()


def wal_fetch(url: str, secret: PassphraseSource, name: str, dest: Path) -> int:
    """restore_command: WalMissing (exit 1) when the archive does not hold ``name``."""
    repo = open_repository(url, secret, load_index=False)
    try:
        return wal.fetch(repo, name, dest)
    finally:
        repo.close()


def archive_check(repo: Repository, conn: PgConn, timeout: float = 60.0) -> str:
    """Force a WAL switch and wait until the finished segment is in the archive; its name."""
    name = str(scalar(conn, "SELECT pg_walfile_name(pg_switch_wal())"))
    deadline = clock.monotonic() + timeout
    while not wal.exists(repo, name):
        if clock.monotonic() > deadline:
            raise PostgresError(
                f"WAL segment {name} did not reach the archive within {timeout:.0f} s",
                hint="check archive_mode, archive_command and the server log",
            )
        time.sleep(0.2)
    return name


# -- windows -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaseWindow:
    snapshot: Snapshot
    window: wal.Window


def windows(repo: Repository, snaps: list[Snapshot] | None = None) -> list[BaseWindow]:
    """Each physical base backup with its recoverable window (start → last contiguous segment)."""
    bases = pitr.physical_backups(snaps if snaps is not None else snapshots.load_all(repo.manifests))
    by_timeline: dict[int, dict[str, datetime]] = {}
    tails: dict[int, dict[int, walstream.Tail]] = {}
    found = []
    for snap in bases:
        tl, seg_size = int(snap.meta["timeline"]), int(snap.meta["wal_segment_size"])
        if tl not in by_timeline:
            by_timeline[tl] = wal.archived_segments(repo, tl)
            tails[tl] = walstream.streamed_tails(repo, tl, seg_size)
        win = wal.window(
            wal.parse_lsn(snap.meta["start_lsn"]), wal.parse_lsn(snap.meta["stop_lsn"]), tl, seg_size, by_timeline[tl]
        )
        found.append(BaseWindow(snap, walstream.with_tail(win, tails[tl], seg_size)))
    return found


# -- point in time -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PitrRequest:
    target: pitr.Target
    target_dir: Path
    repo_url: str
    secret: PassphraseSource
    snapshot: str | None = None
    start: bool = False
    port: int = 0
    os_user: str | None = None
    keep_archiving: bool = False
    explain: Callable[[str], None] | None = None  # told how the base backup was chosen, when not obvious
    restore_command: str | None = None  # instead of the spool + `drkit pg wal-fetch` (a server in a container)


def restore_command(req: PitrRequest) -> str:
    """``drkit pg wal-fetch %f %p`` for this repository; the passphrase by file or command, never inline."""
    argv = [sys.executable, "-m", "drkit.cli.main", "pg", "wal-fetch", "%f", "%p", "--repo", req.repo_url]
    if req.secret.file is not None:
        argv += ["--password-file", str(Path(req.secret.file).resolve())]
    elif req.secret.command:
        argv += ["--password-command", req.secret.command]
    return " ".join(a if a in ("%f", "%p") else shlex.quote(a) for a in argv)


def restore_pitr(repo: Repository, req: PitrRequest) -> tuple[Snapshot, recovery.Recovered | None]:
    """Choose and unpack the base backup, write the recovery config; with ``start``, run recovery."""
    pitr.check_target_dir(req.target_dir)
    with tracing.span("drkit.restore", **{"drkit.source_kind": "postgres", "drkit.mode": "physical"}):
        return _restore_pitr(repo, req)


def _restore_pitr(repo: Repository, req: PitrRequest) -> tuple[Snapshot, recovery.Recovered | None]:
    with repo.lock(purpose="restore"):
        base, plan_target = _choose_base(repo, req)
        spool = req.target_dir / prefetch.SPOOL_DIR
        command = req.restore_command or prefetch.spooled_command(spool, restore_command(req))
        settings = pitr.recovery_settings(req.target, command, keep_archiving=req.keep_archiving)
        with ThreadPoolExecutor(1, thread_name_prefix="drkit-walprefetch") as pool:
            fetched = pool.submit(_prefetch_wal, repo, base, plan_target, spool)  # overlaps unpacking the base
            pitr.prepare_data_dir(repo, base, req.target_dir, settings, req.os_user)
            fetched.result()
        if req.os_user is not None:
            pitr.chown_tree(spool, req.os_user)
    if not req.start:
        return base, None
    recovered = recovery.start_recovery(req.target_dir, port=req.port, os_user=req.os_user)
    shutil.rmtree(spool, ignore_errors=True)  # promoted: the spool is no longer read
    return base, recovered


def _choose_base(repo: Repository, req: PitrRequest) -> tuple[Snapshot, pitr.Target]:
    """The base backup to start from, and the target the WAL prefetch plans for (a name or xid
    target found in the archived WAL becomes its LSN there)."""
    snaps = snapshots.load_all(repo.manifests)
    wins = {w.snapshot.id: w.window for w in windows(repo, snaps)}
    by_record = req.target.kind in ("name", "xid")
    if req.snapshot is not None:
        base = snapshots.find(repo.manifests, req.snapshot, source_kind="postgres")
        if base.meta.get("mode") != "physical":
            raise UsageError(f"snapshot {base.short_id} is not a physical base backup")
        pitr.check_base(base, req.target)
        candidates = [base]
    elif by_record and pitr.physical_backups(snaps):
        candidates = pitr.physical_backups(snaps)
    else:
        refuse_damaged_base(repo, req.target, pitr.newest_serving(pitr.physical_backups(snaps), req.target), snaps)
        return pitr.choose_base(snaps, req.target, lambda s: wins[s.id]), req.target
    if not by_record:
        return candidates[0], req.target
    found = _locate(repo, req, candidates, wins)
    chosen, plan_target = (
        (candidates[-1], req.target) if found is None else (found.base, pitr.Target("lsn", wal.format_lsn(found.lsn)))
    )
    if req.snapshot is None:
        refuse_damaged_base(repo, req.target, chosen, snaps)
    return chosen, plan_target


def refuse_damaged_base(repo: Repository, target: pitr.Target, chosen: Snapshot | None, snaps: list[Snapshot]) -> None:
    """Refuse (exit 13, as ``restore latest`` does) to start from ``chosen`` (None: no intact base backup
    serves the target) when a damaged snapshot manifest, stored after ``chosen`` started, may be a newer
    base backup that serves the target: restoring from an older one would replay more WAL to the same
    target if all goes well, but a base backup that cannot be read is damage the operator must hear of
    (``--skip-damaged`` accepts the older one). For a time target only manifests stored by the target
    time plus the longest base backup seen count (one stored later ended after the target); for an LSN,
    a restore point or a transaction the WAL is not dated, so every later one counts."""
    until = None
    if target.kind == "time":
        bases = pitr.physical_backups(snaps)
        longest = max(
            (datetime.fromisoformat(s.end_time) - datetime.fromisoformat(s.time) for s in bases if s.end_time),
            default=timedelta(0),
        )
        until = pitr.parse_time(target.value) + longest
    store = repo.manifests
    snapshots.refuse_damaged_until(
        store,
        chosen,
        until,
        target.describe(),
        possible=lambda key: snapshots.could_match(store, key, None, "postgres"),
    )


def _locate(
    repo: Repository, req: PitrRequest, bases: list[Snapshot], wins: dict[str, wal.Window]
) -> locate.Located | None:
    """Find the name / xid target's record after the end of one of ``bases``; None (with the choice
    explained) when the archived WAL cannot be searched."""
    try:
        found = locate.locate(repo, bases, req.target, lambda s: wins[s.id])
    except PostgresError as exc:  # pg_waldump is not installed
        which = "as given" if req.snapshot is not None else "the newest"
        _explain(
            req,
            f"cannot search the archived WAL for {req.target.describe()} ({exc.message}); using base "
            f"backup {bases[-1].short_id} ({which}): if recovery ends before the target, choose an older "
            "one with --base",
        )
        return None
    if found is None:
        after = "the end of base backup " + bases[0].short_id if len(bases) == 1 else "any base backup's end"
        raise TargetUnreachable(
            f"{req.target.describe()} is not in the archived WAL after {after}",
            hint="a restore point made after the last archived segment needs `drkit pg archive-check` first; one "
            "made before a base backup ended can only be reached from an older base backup",
        )
    _explain(req, found.explain(req.target))
    return found


def _explain(req: PitrRequest, text: str) -> None:
    if req.explain is not None:
        req.explain(text)


def _prefetch_wal(repo: Repository, base: Snapshot, target: pitr.Target, spool: Path) -> None:
    timeline, seg_size = int(base.meta["timeline"]), int(base.meta["wal_segment_size"])
    streamed = set(walstream.streamed_tails(repo, timeline, seg_size))
    names = prefetch.plan(
        wal.archived_segments(repo, timeline),
        wal.parse_lsn(base.meta["start_lsn"]),
        timeline,
        seg_size,
        target,
        streamed,
    )
    prefetch.prefetch(repo, names, spool)
