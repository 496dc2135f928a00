"""Files drill: restore the snapshot into a temp directory (the sandbox volume), then compare every
entry with the snapshot and run the user's path checks. With ``--sandbox docker`` the directory is
also mounted read-only into a container that lists and checksums it (``sandbox``), and that
view is compared with the snapshot too (``files.container``)."""

from __future__ import annotations

from datetime import UTC, datetime

from ....core.errors import DrkitError
from ....drills.context import DrillContext, KindOutcome
from ....drills.result import CheckResult
from ....drills.sandbox.docker import SandboxUnavailable
from ....drills.verify.user import verify_user_checks
from .. import Selection
from .. import canary as files_canary
from ..config import FilesSource
from ..ops import backup_skipped, find_files_snapshot, repaired_from, restore_files, skipped_line
from ..view import top_dir, view_tree
from .listing import verify_listing
from .sandbox import DEFAULT_IMAGE, container_listing
from .verify import verify_files


def drill_files(ctx: DrillContext) -> KindOutcome:
    source = ctx.job.source
    assert isinstance(source, FilesSource)
    ref = ctx.snapshot or (None if ctx.point_in_time else "latest")
    snap = find_files_snapshot(ctx.repo, ref, ctx.point_in_time, source_name=ctx.name)
    out = KindOutcome(snapshot_id=snap.id)
    target = ctx.workdir / "restore"
    with ctx.phase("restore"):
        restore_files(ctx.repo, snap, str(target), Selection())
    with ctx.phase("verify"):
        digests: dict[str, str] | None = {} if ctx.sandbox == "docker" else None
        out.checks = verify_files(ctx.repo, view_tree(ctx.repo, snap), target, digests)
        if digests is not None:
            out.checks.append(_container_check(ctx, view_tree(ctx.repo, snap), digests))
        out.checks += verify_user_checks(ctx.job.checks, root=target)
        repaired = repaired_from(snap)
        if repaired is not None:  # restores as its tree says, but that tree lacks what the repair dropped
            out.checks.append(CheckResult("files.repaired", False, repaired.line()))
        if backup_skipped(snap):  # restores as stored, but the backup (exit 3) lacks or tore these entries:
            # evidence the snapshot is not the source's state, so a failed check, not an unverified one
            out.checks.append(CheckResult("files.backup_whole", False, skipped_line(snap)))
    out.canary = files_canary.read(target / top_dir(snap.root["paths"], snap.root["paths"][0]), ctx.name)
    started = datetime.fromisoformat(snap.time)
    started = started if started.tzinfo is not None else started.replace(tzinfo=UTC)
    out.system_heartbeats = {
        s: files_canary.read_heartbeat(target, snap.root["paths"], s, started=started) for s in ctx.systems
    }
    return out


def _container_check(ctx: DrillContext, tree_id: str, digests: dict[str, str]) -> CheckResult:
    image = ctx.job.drill.images.get("files", DEFAULT_IMAGE)
    try:
        listing = container_listing(ctx.workdir / "restore", ctx.workdir / "listing", image)
    except SandboxUnavailable:
        raise  # no drill took place (image missing, remote engine): one line, exit 2
    except DrkitError as exc:
        return CheckResult("files.container", False, exc.message)
    return verify_listing(ctx.repo, tree_id, listing, digests)
