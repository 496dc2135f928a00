"""`drkit check` as a use case: the repository's own checks (``repository.check``: index, packs,
snapshots, archived AOF segments) plus the PostgreSQL WAL archive, which lives outside packs and
index: no gap inside any base backup's recovery window, and with ``read_data`` every archived WAL
file (or the ``--read-data-subset`` share of them) read back and verified."""

from __future__ import annotations

from collections.abc import Callable

from ..core.errors import DrkitError
from ..repository import snapshots
from ..repository.check import CheckReport, check_repository, parse_subset
from ..repository.check_rooted import select_names
from ..repository.repo import Repository
from ..sources.postgres import walcheck
from ..sources.postgres.walkeep import archived_names


def check(
    repo: Repository,
    *,
    read_data: bool = False,
    subset: str | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    on_wal: Callable[[], None] | None = None,
) -> CheckReport:
    """Every check; ``report.errors`` names each damaged or missing object. ``progress``: bytes read back,
    packs first (their total told to ``on_total``), then archived WAL (``on_wal`` called as it starts;
    its total is not known ahead)."""
    report = check_repository(repo, read_data=read_data, subset=subset, progress=progress, on_total=on_total)
    names = archived_names(repo)
    if not names:
        return report
    snaps = _readable_snapshots(repo)
    report.errors.extend(gap.describe() for gap in walcheck.wal_gaps(snaps, names))
    if read_data:
        chosen = select_names(names, parse_subset(subset))
        if on_wal is not None:
            on_wal()
        report.errors.extend(walcheck.read_wal(repo, chosen, snaps, progress))
        report.segments_read += len(chosen)
    return report


def _readable_snapshots(repo: Repository) -> list[snapshots.Snapshot]:
    """Every snapshot that opens (``check_repository`` has reported those that do not)."""
    found = []
    for snap_id in repo.manifests.ids(snapshots.KIND):
        try:
            doc = repo.manifests.get_if_present(snapshots.KIND, snap_id)
            if doc is not None:
                found.append(snapshots.Snapshot.from_doc(snap_id, doc))
        except DrkitError:
            continue
    return found
