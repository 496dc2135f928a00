"""What a source plugin declares about a continuous-log archive it keeps (``HasLogArchives`` in the
registry): one :class:`ArchiveSpec` per archive. ``drkit check``, ``copy`` and ``forget`` walk the
registered specs one way (``sources.archives``) and never name a kind.

An archive whose objects live in the repository's log archive (``log``: a ``repository.archive.LogKind``
the plugin defines, under ``logs/<label>/``) needs little more than ``needed``: which of its names a set
of snapshots needs. From that alone retention trims what the kept snapshots do not need, ``copy``
carries what the copied ones need (re-sealed, a name the target holds with other content a conflict),
and ``check --read-data`` reads every object back (decrypt, authenticate against its name, hash); the
optional ``gaps`` and ``inspect`` add the kind's own structural and content checks. An archive kept
some other way (records in manifests) gives ``plan``/``remove`` and ``copy`` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..repository.archive import Inspect, LogKind
from ..repository.immutability import Trimming
from ..repository.repo import Repository
from ..repository.snapshots import Snapshot
from ..repository.writer import WriteStats

Progress = Callable[[int], None] | None
Needed = Callable[[str], bool]  # archived name → whether the snapshots need it


@dataclass(frozen=True)
class ArchiveCopy:
    """What ``drkit copy`` carries of one archive for the snapshots it copies: ``total`` content bytes
    (added to the progress total before anything is read; 0 when not counted), then ``run``: (objects
    copied, the blobs it wrote, if it wrote any). ``run`` raises ``LogConflict`` after copying the rest
    when the target holds names with other content."""

    total: int
    run: Callable[[Progress], tuple[int, WriteStats | None]]


@dataclass(frozen=True, kw_only=True)
class ArchiveSpec:
    """One continuous-log archive of a source kind."""

    label: str  # the key of forget's plans and copy's counts: "wal", "aof", "binlog"
    noun: str  # one archived object, for people: "WAL file"
    nouns: str  # several: "WAL files"
    source_kind: str  # the snapshots whose retention it follows: "postgres"
    log: LogKind | None = None  # its objects' kind in the repository's log archive (None: kept otherwise)
    needed: Callable[[Repository, list[Snapshot]], Needed] | None = None  # a log: the names snapshots need
    plan: Callable[[Repository, list[Snapshot]], Trimming] | None = None  # retention (default: by needed)
    remove: Callable[[Repository, Trimming], None] | None = None  # delete a plan (default: the log's trim)
    # check: holes, one line each (from the snapshots and the log's names; the repository for a kind
    # whose holes need more of it than the log: the AOF's older records)
    gaps: Callable[[Repository, list[Snapshot], list[str]], list[str]] | None = None
    inspect: Callable[[list[Snapshot]], Inspect] | None = None  # check --read-data: each object's content
    copy: Callable[[Repository, Repository, list[Snapshot]], ArchiveCopy | None] | None = None  # default: needed
    forget_key: str = ""  # its plan in `forget --json` (default: label)
    copy_key: str = ""  # its count in `copy --json` (default: "<label>_copied")
    forget_lines: Callable[[Trimming, str], list[str]] | None = None  # (plan, "removed"/"would remove") → lines
    # (kept, every snapshot) → ids of snapshots (logs in an older, snapshot form) the kept ones still need:
    # a policy forget keeps them, whatever group the policy sees them in
    holds: Callable[[list[Snapshot], list[Snapshot]], set[str]] | None = None

    def __post_init__(self) -> None:
        if self.log is None and not (self.plan and self.remove and self.copy):
            raise ValueError(f"archive {self.label}: one outside the log archive gives plan, remove and copy")
        if self.log is not None and self.needed is None and not (self.plan and self.copy):
            raise ValueError(f"archive {self.label}: a log gives needed (or plan and copy)")

    @property
    def forget_as(self) -> str:
        return self.forget_key or self.label

    @property
    def copy_as(self) -> str:
        return self.copy_key or f"{self.label}_copied"


__all__ = ["ArchiveCopy", "ArchiveSpec", "Needed", "Progress"]
