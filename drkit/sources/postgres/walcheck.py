"""Checks of the WAL archive for ``drkit check``.

Structure: inside each base backup's recovery window the WAL chain must have no gap. On a
timeline, every segment from the oldest base backup's start segment up to the newest archived
segment must be there; a missing one cuts the window of every base backup that starts before it
(recovery stops at the hole, however much WAL follows). Segments before the oldest base backup's
start are none of check's business (``forget`` removes them).

Read data: each archived WAL file is downloaded and opened as ``wal-fetch`` would (decrypted,
authenticated against its name, decompressed, hashed back to its keyed hash); a segment's first page
header must then agree with its name (WAL position, segment size) and with the base backups'
database system (a file of another cluster pushed into this archive would stop recovery there).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ...repository.archive import Inspect
from ...repository.snapshots import Snapshot
from .pitr import physical_backups
from .wal import STREAMED, format_lsn, parse_lsn, segment_name, segment_number

_HEX24 = frozenset("0123456789ABCDEF")


def _is_segment(name: str) -> bool:
    return len(name) == 24 and set(name) <= _HEX24


@dataclass(frozen=True, kw_only=True)
class Gap:
    timeline: int
    first: int  # segment numbers, inclusive
    last: int
    seg_size: int
    resumes: int
    bases: tuple[str, ...]  # short ids of the base backups whose window it cuts

    def describe(self) -> str:
        name = segment_name(self.timeline, self.first, self.seg_size)
        if self.last > self.first:
            name += f" .. {segment_name(self.timeline, self.last, self.seg_size)}"
        return (
            f"WAL gap on timeline {self.timeline}: segment {name} missing from the archive (archived WAL "
            f"resumes at {segment_name(self.timeline, self.resumes, self.seg_size)}); base backup "
            f"{', '.join(self.bases)} cannot recover past {format_lsn(self.first * self.seg_size)}"
        )


def _ranges(numbers: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for n in numbers:
        if out and out[-1][1] == n - 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def wal_gaps(snaps: list[Snapshot], names: list[str]) -> list[Gap]:
    """The holes in the archived WAL (file names ``names``) inside the base backups' windows."""
    gaps: list[Gap] = []
    lines: dict[tuple[int, int], list[Snapshot]] = {}
    for base in physical_backups(snaps):
        lines.setdefault((int(base.meta["timeline"]), int(base.meta["wal_segment_size"])), []).append(base)
    for (tl, seg_size), bases in sorted(lines.items()):
        have = {segment_number(n, seg_size) for n in names if _is_segment(n) and int(n[:8], 16) == tl}
        starts = {b.short_id: parse_lsn(b.meta["start_lsn"]) // seg_size for b in bases}
        low = min(starts.values())
        above = sorted(s for s in have if s >= low)
        if not above:
            continue  # nothing archived after the backups yet: no hole, only a short window
        missing = [s for s in range(low, above[-1]) if s not in have]
        for first, last in _ranges(missing):
            cut = tuple(sid for sid, start in starts.items() if start <= first)
            gaps.append(Gap(timeline=tl, first=first, last=last, seg_size=seg_size, resumes=last + 1, bases=cut))
    return gaps


_LONG_HEADER = ("<HHIQI4xQII", ">HHIQI4xQII")  # XLogLongPageHeaderData, little- or big-endian server
_XLP_LONG_HEADER = 0x0002


def _long_header(data: bytes) -> tuple[int, int, int] | None:
    """(page address, system identifier, segment size) from a segment's first page, or None."""
    for layout in _LONG_HEADER:
        if len(data) < struct.calcsize(layout):
            return None
        _, info, _, pageaddr, _, sysid, seg_size, _ = struct.unpack_from(layout, data)
        if info & _XLP_LONG_HEADER and seg_size == len(data):
            return pageaddr, sysid, seg_size
    return None


def segment_problem(name: str, data: bytes, systems: set[str]) -> str | None:
    """Why a decoded WAL segment (or ``.partial``) is not the one its name says, if it is not: its
    first page must be at the segment's WAL position, its size the segment size in its header, and
    its database system one of the base backups' (``systems``; not checked when empty)."""
    if not _is_segment(name[:24]) or (name[24:] not in ("", ".partial") and not STREAMED.match(name)):
        return None  # history and backup-label files have no page header
    header = _long_header(data)
    if header is None:
        return f"is not a WAL segment ({len(data)} bytes without a WAL page header of that segment size)"
    pageaddr, sysid, seg_size = header
    expected = segment_number(name[:24], seg_size) * seg_size
    if pageaddr != expected:
        return f"holds WAL from {format_lsn(pageaddr)}, its name says {format_lsn(expected)}"
    if systems and str(sysid) not in systems:
        return f"is WAL of database system {sysid}, the base backups are of {', '.join(sorted(systems))}"
    return None


def gap_lines(snaps: list[Snapshot], names: list[str]) -> list[str]:
    """``check``'s report of :func:`wal_gaps`, one line per gap."""
    return [gap.describe() for gap in wal_gaps(snaps, names)]


def inspector(snaps: list[Snapshot]) -> Inspect:
    """What ``check --read-data`` asks of each decoded WAL file: :func:`segment_problem` against the
    database systems of the base backups in ``snaps``."""
    systems = {str(s.meta["system_identifier"]) for s in physical_backups(snaps) if "system_identifier" in s.meta}
    return lambda name, data: segment_problem(name, data, systems)
