"""Point-in-time restore of Redis from AOF pieces: the files of AOF snapshots and the segments
``aof-archive`` recorded. Pieces group by the base they follow (an AOF rewrite starts a new
group); a group covers ``[base time, last annotation or last capture]``. The newest group whose
window holds the target time is assembled (each INCR file from contiguous pieces), then truncated
with ``redis-check-aof --truncate-to-timestamp``. Everything is planned and checked before any
byte is written; an uncovered time is an error naming the windows that exist."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from ...core import timespec
from ...core.errors import UsageError
from .aof import AofFile, render_manifest
from .errors import RedisSourceError

Fetch = Callable[[BinaryIO], int]


@dataclass(frozen=True)
class Piece:
    base: str
    base_mtime: float
    file: str
    seq: int
    type: str
    offset: int
    length: int
    last_ts: int | None
    captured: float
    fetch: Fetch = field(compare=False, repr=False)

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass
class Group:
    base: str
    start: float
    pieces: list[Piece] = field(default_factory=list)

    @property
    def last_ts(self) -> int | None:
        stamps = [p.last_ts for p in self.pieces if p.last_ts is not None]
        return max(stamps) if stamps else None

    @property
    def end(self) -> float:
        return max([float(self.last_ts or 0), *(p.captured for p in self.pieces)])

    @property
    def has_incr_data(self) -> bool:
        return any(p.type == "i" and p.length > 64 for p in self.pieces)


def parse_time(text: str) -> float:
    """Seconds since the epoch of a time in drkit's one grammar (``drkit.core.timespec``)."""
    return timespec.parse_time(text).timestamp()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def group_pieces(pieces: list[Piece]) -> list[Group]:
    groups: dict[tuple[str, int], Group] = {}
    for p in pieces:
        key = (p.base, int(p.base_mtime))
        groups.setdefault(key, Group(p.base, float(int(p.base_mtime)))).pieces.append(p)
    return sorted(groups.values(), key=lambda g: g.start)


def choose_group(groups: list[Group], when: float) -> Group:
    """The newest group covering ``when``; a clear error otherwise."""
    for g in reversed(groups):
        if g.start <= when <= g.end:
            if g.last_ts is None and g.has_incr_data:
                raise UsageError("the AOF has no timestamp annotations (aof-timestamp-enabled was off): "
                                 "point-in-time restore is not possible from it")
            return g
    windows = ", ".join(f"{iso(g.start)} .. {iso(g.end)}" for g in groups) or "none"
    raise UsageError(f"{iso(when)} is not covered by the AOF backups (recoverable windows: {windows})")


def _plan_file(pieces: list[Piece], name: str) -> list[tuple[Piece, int]]:
    """(piece, bytes to skip) covering the file from 0 contiguously, as far as pieces reach."""
    plan: list[tuple[Piece, int]] = []
    pos = 0
    while True:
        usable = [p for p in pieces if p.file == name and p.offset <= pos < p.end]
        if not usable:
            return plan
        best = max(usable, key=lambda p: p.end)
        plan.append((best, pos - best.offset))
        pos = best.end


def plan_group(group: Group) -> tuple[list[AofFile], dict[str, list[tuple[Piece, int]]]]:
    files: dict[str, Piece] = {}
    for p in group.pieces:
        files.setdefault(p.file, p)
    ordered = sorted(files.values(), key=lambda p: (p.type != "b", p.seq))
    if not ordered or ordered[0].type != "b":
        raise UsageError(f"the AOF base {group.base} is not in the repository")
    plans = {p.file: _plan_file(group.pieces, p.file) for p in ordered}
    for p in ordered:
        have = max((x.end for x in group.pieces if x.file == p.file), default=0)
        if sum(pc.end - pc.offset - skip for pc, skip in plans[p.file]) != have:
            raise UsageError(f"archived pieces of {p.file} have a hole: point-in-time restore is not possible")
    return [AofFile(p.file, p.seq, p.type) for p in ordered], plans


class _Skip:
    """Writes through to ``out`` after discarding the first ``skip`` bytes."""

    def __init__(self, out: BinaryIO, skip: int) -> None:
        self.out, self.skip = out, skip

    def write(self, data: Any) -> int:
        view = memoryview(data)
        n = len(view)
        if self.skip:
            drop = min(self.skip, n)
            self.skip -= drop
            view = view[drop:]
        self.out.write(view)
        return n


def write_group(aof_dir: Path, manifest_name: str, files: list[AofFile],
                plans: dict[str, list[tuple[Piece, int]]]) -> None:
    aof_dir.mkdir(parents=True, exist_ok=True)
    for f in files:
        with open(aof_dir / f.name, "wb") as out:
            for piece, skip in plans[f.name]:
                piece.fetch(_Skip(out, skip))  # type: ignore[arg-type]
    (aof_dir / manifest_name).write_bytes(render_manifest(files))


def truncate_to(aof_dir: Path, manifest_name: str, when: float) -> None:
    tool = shutil.which("redis-check-aof")
    if tool is None:
        raise RedisSourceError("redis-check-aof not found on PATH", hint="install Redis 7 (Debian: redis-tools)")
    proc = subprocess.run([tool, "--truncate-to-timestamp", str(int(when)), str(aof_dir / manifest_name)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
        raise RedisSourceError(f"redis-check-aof could not truncate the AOF to {iso(when)}: {last[0]}")
