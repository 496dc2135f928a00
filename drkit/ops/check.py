"""`drkit check` as a use case: the repository's own checks (``repository.check``: index, packs,
snapshots, archived AOF segments) plus every log of the log archive, which lives outside packs and
index. The logs are those the installed source plugins declare (``sources.archives.archive_specs``),
each checked the one way: the plugin's structural check (WAL: no gap inside any base backup's recovery
window), and with ``read_data`` every object (or the ``--read-data-subset`` share of them) read back,
verified and shown to the plugin's ``inspect``. A log under ``logs/`` that no installed plugin declares
is an error naming its prefix: it cannot be checked, so the repository is not called clean."""

from __future__ import annotations

from collections.abc import Callable

from ..core.errors import DrkitError
from ..repository import snapshots
from ..repository.archive import Inspect, LogArchive, read_back, unclaimed_logs
from ..repository.check import CheckReport, check_repository, parse_subset
from ..repository.check_rooted import select_names
from ..repository.repo import Repository
from ..sources.archives import ArchiveSpec, archive_specs, log_kinds


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
    packs first (their total told to ``on_total``), then each log of the log archive (``on_wal`` called
    as it starts; its total is not known ahead)."""
    report = check_repository(repo, read_data=read_data, subset=subset, progress=progress, on_total=on_total)
    specs = archive_specs()
    snaps: list[snapshots.Snapshot] | None = None
    for spec in specs:  # every log the one way: its holes, then with read_data each object read back
        if spec.log is None:
            continue  # kept in manifests: checked with them (repository.check_rooted)
        logs = LogArchive(repo, spec.log)
        names = logs.names()
        if not names:
            continue
        snaps = snaps if snaps is not None else _readable_snapshots(repo)
        if spec.gaps is not None:
            report.errors.extend(spec.gaps(repo, snaps, names))
        if read_data:
            chosen = select_names(names, parse_subset(subset))
            if on_wal is not None:
                on_wal()
            report.errors.extend(read_back(logs, chosen, _inspect(spec, snaps), _counting(report, progress)))
    report.errors.extend(
        f"log archive {prefix}: {count} objects of a log kind no installed source plugin declares; not checked "
        "(install the source plugin that wrote them)"
        for prefix, count in sorted(unclaimed_logs(repo, log_kinds(specs)).items())
    )
    return report


def _inspect(spec: ArchiveSpec, snaps: list[snapshots.Snapshot]) -> Inspect | None:
    return spec.inspect(snaps) if spec.inspect is not None else None


def _counting(report: CheckReport, progress: Callable[[int], None] | None) -> Callable[[int], None]:
    """``progress``, and one more in ``segments_read`` per object read back (not one gone since its listing)."""

    def read(size: int) -> None:
        report.segments_read += 1
        if progress is not None:
            progress(size)

    return read


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
