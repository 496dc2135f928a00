"""Every continuous-log archive a repository may hold and how retention judges it, in one table, so
``drkit forget`` (by policy and by id) walks the archives one way instead of naming each source's.

- ``wal``: PostgreSQL WAL, objects of the repository's log archive (``repository.archive``); kept
  from the oldest kept physical base backup's start on (``postgres.walkeep``).
- ``aof``: Redis AOF segments, ``redis_aof`` records with stream roots; a group goes once it holds
  no kept AOF snapshot's base and ends before the source's oldest kept snapshot
  (``redis.archive_keep``).

MySQL binary logs are ``mysql-binlog`` snapshots: a job's retention never selects them, and
``drkit forget`` removes them as snapshots (``drkit mysql binlog-unneeded`` lists those no restore can use).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..repository.archive import LOGS, Inspect, LogKind
from ..repository.immutability import Trimming
from ..repository.repo import Repository
from ..repository.snapshots import Snapshot
from .postgres import walcheck, walkeep
from .redis import archive_keep


@dataclass(frozen=True)
class ArchiveRule:
    label: str  # the key of its plan: "wal", "aof"
    source_kind: str  # the snapshots whose retention it follows
    plan: Callable[[Repository, list[Snapshot]], Trimming]  # what goes, given the snapshots kept
    remove: Callable[[Repository, Trimming], None]  # delete it (under the maintenance lock)


ARCHIVES: tuple[ArchiveRule, ...] = (
    ArchiveRule("wal", "postgres", walkeep.plan_retention, walkeep.remove),
    ArchiveRule("aof", "redis", archive_keep.plan_aof_retention, archive_keep.remove_archived),
)


@dataclass(frozen=True)
class LogCheck:
    """What ``drkit check`` asks of a log of the repository's log archive beyond each object's
    integrity (which ``repository.archive.read_back`` proves the same way for every log)."""

    gaps: Callable[[list[Snapshot], list[str]], list[str]]  # (snapshots, archived names) → holes, one line each
    inspect: Callable[[list[Snapshot]], Inspect]  # snapshots → the look at each decoded object's content


LOG_CHECKS: dict[str, LogCheck] = {"wal": LogCheck(walcheck.gap_lines, walcheck.inspector)}


def log_check(kind: LogKind) -> LogCheck:
    """The checks of log ``kind`` (a log without a source's own checks is read back for integrity only)."""
    return LOG_CHECKS.get(kind.label, LogCheck(lambda snaps, names: [], lambda snaps: lambda name, data: None))


def plan_archives(repo: Repository, kept: list[Snapshot], concerned: Callable[[str], bool]) -> dict[str, Trimming]:
    """label → what each archive whose source kind is ``concerned`` keeps for the snapshots ``kept``."""
    return {rule.label: rule.plan(repo, kept) for rule in ARCHIVES if concerned(rule.source_kind)}


def remove_archives(repo: Repository, plans: dict[str, Trimming]) -> None:
    """Delete what ``plan_archives`` chose; after the snapshots (an interruption leaves extra log,
    never a snapshot without the log it needs)."""
    for rule in ARCHIVES:
        if rule.label in plans:
            rule.remove(repo, plans[rule.label])


__all__ = ["ARCHIVES", "LOGS", "LOG_CHECKS", "ArchiveRule", "LogCheck", "log_check", "plan_archives", "remove_archives"]
