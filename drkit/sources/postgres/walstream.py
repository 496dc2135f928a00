"""Streamed WAL in the archive: what ``drkit pg receive`` stores from pg_receivewal's directory.

pg_receivewal writes the segment being received as ``<segment>.partial`` (padded with zeros to the
segment size) and renames it to ``<segment>`` when it is complete. The spool sync here
(``SpoolSync.sync``) stores:

- a **complete segment** exactly as ``wal-push`` does (``wal/<tl>/<segment>``, ``put_if_absent``):
  a segment that ``archive_command`` also pushes is the same bytes (both are the server's WAL file),
  so whichever comes second finds an identical object and succeeds; different content under the
  name is refused (``WalConflict``) as for ``wal-push``;
- a **timeline history file** pg_receivewal wrote when it followed a timeline switch, likewise;
- the **segment being received**, whenever it grew, as a new object
  ``wal/<tl>/<segment>.<L, 8 hex>.partial`` where L is the length without the zero padding. Objects
  are written once (immutability, FORMAT.md §10), so each growth is a new name; the older partial
  objects of that segment are deleted once a longer one (or the complete segment) is stored.

``wal-fetch`` of a segment that is not archived whole returns its longest streamed partial, so a
restore to the end replays the WAL received up to the last sync (``wal.fetch``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ...repository.repo import Repository
from .wal import (
    STREAMED,
    Window,
    archive,
    archive_times,
    is_segment,
    push,
    segment_number,
)

_HISTORY = re.compile(r"^[0-9A-F]{8}\.history$")


def partial_name(segment: str, length: int) -> str:
    return f"{segment}.{length:08X}.partial"


def streamed_length(name: str) -> int:
    return int(name[25:33], 16)


@dataclass(frozen=True)
class Tail:
    """The newest streamed partial after the archived segments: WAL up to ``end_lsn``, stored at ``time``."""

    name: str
    end_lsn: int
    time: datetime


def superseded(names: Iterable[str]) -> set[str]:
    """The streamed partials among ``names`` that the whole segment or a longer partial replaces."""
    have = set(names)
    longest: dict[str, str] = {}
    for name in sorted(n for n in have if STREAMED.match(n) and n[:24] not in have):
        if name[:24] not in longest or streamed_length(name) > streamed_length(longest[name[:24]]):
            longest[name[:24]] = name
    return {n for n in have if STREAMED.match(n)} - set(longest.values())


def streamed_tails(repo: Repository, timeline: int, seg_size: int) -> dict[int, Tail]:
    """Segment number → its longest streamed partial, for segments of ``timeline`` not archived whole
    (stored at the time its source repository stored it, in a copy: ``archive_times``)."""
    names = archive_times(repo, f"{timeline:08X}")
    tails: dict[int, Tail] = {}
    for name, when in names.items():
        if not STREAMED.match(name) or name[:24] in names:
            continue
        segno = segment_number(name[:24], seg_size)
        end = segno * seg_size + streamed_length(name)
        if segno not in tails or tails[segno].end_lsn < end:
            tails[segno] = Tail(name, end, when)
    return tails


def with_tail(win: Window, tails: dict[int, Tail], seg_size: int) -> Window:
    """``win`` extended by the streamed partial of the segment right after its archived WAL, if any
    (recovery replays it up to its end: the window ends there, at the time it was stored)."""
    after = win.start_lsn // seg_size if win.end_lsn is None else win.end_lsn // seg_size
    tail = tails.get(after)
    if tail is None:
        return win
    return Window(
        start_lsn=win.start_lsn, stop_lsn=win.stop_lsn, end_lsn=tail.end_lsn, last_segment=tail.name, end_time=tail.time
    )


@dataclass
class SyncResult:
    """What one sync stored; ``received_lsn`` is the end of the WAL in the archive from the spool."""

    segments: list[str] = field(default_factory=list)
    partial: str | None = None
    received_lsn: int | None = None


class SpoolSync:
    """Stores what pg_receivewal wrote into ``spool``; keeps only the newest complete segment there
    (pg_receivewal resumes after it when restarted) and the segment being received."""

    def __init__(self, repo: Repository, spool: Path, seg_size: int) -> None:
        self.repo = repo
        self.spool = spool
        self.seg_size = seg_size
        self._partials: dict[str, set[str]] = {}  # segment → its partial objects known to exist
        self._stored_length: dict[str, int] = {}
        self._done: set[str] = set()  # complete segments stored by this run

    def sync(self) -> SyncResult:
        result = SyncResult()
        names = sorted(os.listdir(self.spool))
        complete = [n for n in names if is_segment(n)]
        for name in complete:
            if name not in self._done:
                push(self.repo, self.spool / name)
                self._drop_partials(name, keep=None)
                self._done.add(name)
                result.segments.append(name)
            result.received_lsn = (segment_number(name, self.seg_size) + 1) * self.seg_size
            if name != complete[-1]:
                (self.spool / name).unlink(missing_ok=True)
                self._done.discard(name)
        for name in names:
            if name.endswith(".partial") and is_segment(name[:24]) and name[:24] not in complete:
                self._sync_partial(name[:24], result)
            elif _HISTORY.match(name) and name not in self._done:  # a timeline switch pg_receivewal followed
                push(self.repo, self.spool / name)
                self._done.add(name)
        return result

    def _sync_partial(self, segment: str, result: SyncResult) -> None:
        try:
            data = (self.spool / f"{segment}.partial").read_bytes()
        except FileNotFoundError:  # completed (renamed) meanwhile: the next sync stores it whole
            return
        length = len(data.rstrip(b"\0"))  # the zero padding; a record's own trailing zeros only shorten the name
        self._known(segment)
        if length > self._stored_length[segment]:  # never shorter than what is stored (a restart re-streams)
            name = partial_name(segment, length)
            archive(self.repo).add(name, data)  # False: stored by an earlier run (a restart), the same WAL
            self._stored_length[segment] = length
            self._drop_partials(segment, keep=name)
            result.partial = name
        if self._stored_length[segment]:
            start = segment_number(segment, self.seg_size) * self.seg_size
            result.received_lsn = max(result.received_lsn or 0, start + self._stored_length[segment])

    def _known(self, segment: str) -> set[str]:
        """The partial objects of ``segment`` (listed once, then kept up to date)."""
        known = self._partials.get(segment)
        if known is None:
            names = set(archive(self.repo).times(f"{segment}."))
            known = self._partials[segment] = {n for n in names if STREAMED.match(n)}
            self._stored_length[segment] = max((streamed_length(n) for n in known), default=0)
        return known

    def _drop_partials(self, segment: str, keep: str | None) -> None:
        """Delete the partial objects of ``segment`` other than ``keep`` (all once it is archived whole).
        One under retention (Object Lock) stays until ``drkit forget`` removes it with its segment."""
        known = self._known(segment)
        for name in sorted(known - {keep}):
            archive(self.repo).delete(name)  # kept while under retention
            known.discard(name)
        if keep is not None:
            known.add(keep)
        else:
            self._partials.pop(segment, None)
            self._stored_length.pop(segment, None)


__all__ = [
    "SpoolSync",
    "SyncResult",
    "Tail",
    "partial_name",
    "streamed_length",
    "streamed_tails",
    "superseded",
    "with_tail",
]
