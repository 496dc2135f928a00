"""Every archived AOF segment of a Redis source, in both forms, as one list: ``redis_aof`` records (every
base file, and INCR growth archived by a drkit before the log archive held it) and AOF increments
(objects of the log archive, ``aoflog``). Point-in-time restore, the archiver's resume, retention and
the daemon's freshness read this one list, so an archive begun in the old form and continued in the
new one is one history.

Each segment is ``(key, doc)``: ``doc`` has a record's fields (``source_name``, ``base``, ``base_mtime``,
``file``, ``seq``, ``type``, ``offset``, ``length``, ``last_ts``, ``archived_at``, ``run``, ``run_records``,
``ts_enabled``; a record's ``root`` too); ``key`` is the record id, or for an increment its object name
(:func:`is_increment` tells them apart: a record id, a content hash, never holds ``_``)."""

from __future__ import annotations

from typing import Any

from ...repository.repo import Repository
from . import aoflog
from .kinds import ARCHIVE_KIND

Segment = tuple[str, dict[str, Any]]


def is_increment(key: str) -> bool:
    return aoflog.SEP in key


def records(repo: Repository, name: str | None = None) -> list[Segment]:
    return list(repo.manifests.find(ARCHIVE_KIND, lambda d: name in (None, d.get("source_name"))))


def segments(repo: Repository, name: str | None = None, *, strict: bool = True) -> list[Segment]:
    """The records, then the increments, of source ``name`` (every source when None). An object of the
    AOF log whose name does not parse is an IntegrityError, or (not ``strict``) left out."""
    incs = aoflog.increments(repo, name, strict=strict)
    return records(repo, name) + [(inc.name, inc.doc()) for inc in incs]


__all__ = ["Segment", "is_increment", "records", "segments"]
