"""Files drill: restore the snapshot into a temp directory (the sandbox volume), then compare every
entry with the snapshot and run the user's path checks."""

from __future__ import annotations

import os

from ...config import FilesSource
from ...ops.files import find_files_snapshot, restore_files
from ...sources.files import Selection
from ...sources.files import canary as files_canary
from ..context import DrillContext, KindOutcome
from ..verify.files import verify_files
from ..verify.user import verify_user_checks


def drill_files(ctx: DrillContext) -> KindOutcome:
    source = ctx.job.source
    assert isinstance(source, FilesSource)
    ref = ctx.snapshot or (None if ctx.point_in_time else "latest")
    snap = find_files_snapshot(ctx.repo, ref, ctx.point_in_time, source_name=ctx.name)
    out = KindOutcome(snap.id)
    target = ctx.workdir / "restore"
    with ctx.phase("restore"):
        restore_files(ctx.repo, snap, str(target), Selection())
    with ctx.phase("verify"):
        out.checks = verify_files(ctx.repo, snap.root["tree"], target)
        out.checks += verify_user_checks(ctx.job.checks, root=target)
    first = os.path.basename(snap.root["paths"][0].rstrip("/")) or "root"
    out.canary = files_canary.read(target / first, ctx.name)
    return out
