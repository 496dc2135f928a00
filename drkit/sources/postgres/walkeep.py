"""Which archived WAL a set of base backups needs: PITR-aware retention and copying.

A base backup recovers from its start LSN onward, so it needs every archived segment that ends after
that LSN, on any timeline (LSNs keep growing across a timeline switch: a child timeline's segments
start at its parent's switch point). The *horizon* is the oldest start LSN among the base backups to
keep: a segment (or ``.partial`` / ``.backup`` file) that ends at or before it is needed by none of
them. Timeline history files are tiny and needed to follow timelines: they are always kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...repository.archive import LogConflict, copy_log, plan_trim, trim
from ...repository.immutability import Trimming
from ...repository.manifests import manifest_key
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ..logarchives import ArchiveCopy, ArchiveSpec
from .pitr import physical_backups
from .wal import TIMES_KIND, WAL, archive, archive_times, format_lsn, parse_lsn, segment_number
from .walcheck import gap_lines, inspector
from .walstream import superseded


@dataclass(frozen=True)
class Horizon:
    lsn: int
    seg_size: int

    def needs(self, name: str) -> bool:
        """True if a base backup starting at or after the horizon may need WAL file ``name``."""
        if name.endswith(".history"):
            return True
        return (segment_number(name[:24], self.seg_size) + 1) * self.seg_size > self.lsn


def horizon(snaps: list[Snapshot]) -> Horizon | None:
    """The oldest start among the physical base backups in ``snaps`` (None: there are none)."""
    bases = physical_backups(snaps)
    if not bases:
        return None
    oldest = min(bases, key=lambda s: parse_lsn(s.meta["start_lsn"]))
    return Horizon(parse_lsn(oldest.meta["start_lsn"]), int(oldest.meta["wal_segment_size"]))


def archived_names(repo: Repository) -> list[str]:
    return archive(repo).names()


@dataclass
class WalRetention(Trimming):
    horizon: str | None = None  # the oldest retained base backup's start LSN


def plan_retention(repo: Repository, retained: list[Snapshot]) -> WalRetention:
    """What the WAL archive keeps for the base backups in ``retained``. With no base backup left,
    nothing is removed (the archive may predate the first base backup)."""
    limit = horizon(retained)
    result = WalRetention(horizon=format_lsn(limit.lsn) if limit else None)
    plan_trim(archive(repo), (lambda name: True) if limit is None else limit.needs, result)
    return result


def remove(repo: Repository, plan: Trimming) -> None:
    trim(archive(repo), plan)
    if plan.removed:
        _drop_stale_times(repo)


def _drop_stale_times(repo: Repository) -> None:
    """Delete the ``wal_archived`` records none of whose WAL files is archived any more (unless
    still under retention: a stale record is harmless, readers ignore names that are gone)."""
    have = set(archived_names(repo))
    for doc_id, doc in repo.manifests.find(TIMES_KIND):
        if not have.intersection(doc.get("times", {})) and repo.locked_until(manifest_key(TIMES_KIND, doc_id)) is None:
            repo.manifests.delete(TIMES_KIND, doc_id)


def copy_wal(source: Repository, target: Repository, limit: Horizon) -> int:
    """Copy the WAL files ``limit`` needs that ``target`` lacks, re-encrypted; returns how many.
    One ``target`` holds already that no earlier copy from ``source`` put there (its own archive, another
    cluster's) is compared: with other content it is a conflict, left as it is, and after everything
    else is copied, LogConflict (exit 13) names them.
    Of a segment only the newest WAL is copied (the segment, else its longest streamed partial), and
    the target's partials it supersedes are deleted, as the receiver does in the source; a partial
    the receiver replaced since the listing is left for the next copy. Then a ``wal_archived``
    document records when the source archived each needed file whose time the target does not know
    (a copied object's own time is the time of the copy, which would stretch the recoverable windows
    to it)."""
    have = archive_times(target)
    times = archive_times(source)
    stale = superseded(times)
    present = set(have)
    ours = _copied_from(target, source.config.id)
    wanted = [n for n in sorted(times) if (n not in have or n not in ours) and n not in stale and limit.needs(n)]
    copied, stored, conflicts = copy_log(archive(source), archive(target), wanted)  # replaced since: skipped
    present |= stored
    _drop_superseded(target, superseded(present))
    record = {
        name: when.isoformat()
        for name, when in times.items()
        if limit.needs(name) and name not in stale and name not in conflicts and (name not in have or have[name] > when)
    }
    if record:
        target.manifests.put(TIMES_KIND, {"source_repository": source.config.id, "times": record})
    if conflicts:
        raise LogConflict(WAL, conflicts)
    return copied


def _copied_from(target: Repository, source_id: str) -> set[str]:
    """The WAL names earlier copies from ``source_id`` recorded in ``target`` (not compared again)."""
    names: set[str] = set()
    for _, doc in target.manifests.find(TIMES_KIND, lambda d: d.get("source_repository") == source_id):
        names.update(doc.get("times", {}))
    return names


def _drop_superseded(repo: Repository, names: set[str]) -> None:
    """Delete streamed partials a newer copy of their WAL replaces (one under retention stays)."""
    for name in sorted(names):
        archive(repo).delete(name)  # kept while under retention


def _copy(source: Repository, target: Repository, chosen: list[Snapshot]) -> ArchiveCopy | None:
    limit = horizon(chosen)
    if limit is None:
        return None
    return ArchiveCopy(0, lambda _progress: (copy_wal(source, target, limit), None))


def _forget_lines(plan: Trimming, verb: str) -> list[str]:
    horizon_lsn = plan.horizon if isinstance(plan, WalRetention) else None
    return [
        f"WAL archive: {verb} {len(plan.removed)} files that end before {horizon_lsn} (start of the "
        f"oldest base backup kept); {plan.kept} kept",
        *(f"WAL file {name} is locked until {until}; kept" for name, until in plan.locked.items()),
    ]


def wal_archive() -> ArchiveSpec:
    """The WAL archive as the ``postgres`` plugin declares it (``HasLogArchives``)."""
    return ArchiveSpec(
        label="wal",
        noun="WAL file",
        nouns="WAL files",
        source_kind="postgres",
        log=WAL,
        plan=plan_retention,
        remove=remove,
        gaps=lambda _repo, snaps, names: gap_lines(snaps, names),
        inspect=inspector,
        copy=_copy,
        forget_key="wal",
        copy_key="wal_files",
        forget_lines=_forget_lines,
    )
