"""Point-in-time restore of Redis from AOF pieces: the files of AOF snapshots and the segments
``aof-archive`` recorded. Pieces group by the base they follow (an AOF rewrite starts a new
group); a group covers ``[base time, last annotation or last capture]``. The newest group whose
window holds the cut (:func:`aof_cut`) is assembled (each INCR file from contiguous pieces), then
truncated with ``redis-check-aof --truncate-to-timestamp``. Everything is planned and checked before
any byte is written; an uncovered time is an error naming the windows that exist.

AOF timestamp annotations (``#TS:<unix seconds>``) have whole-second resolution: the commands after
``#TS:S`` ran at S.000–S.999, so for a target T inside second S they may be after T. The cut never
replays a command whose second could end after T: it keeps the seconds before ``floor(T)`` and
reaches the state at ``floor(T)`` (T itself when T is a whole second). The single-job restore, its
drill and ``restore --system`` all cut through :func:`aof_cut`."""

from __future__ import annotations

import io
import math
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from ...core import timespec
from ...core.errors import IntegrityError, UsageError
from . import history
from .aof import AofFile, render_manifest
from .errors import RedisSourceError

Fetch = Callable[[BinaryIO], int]


@dataclass(frozen=True)
class AofCut:
    """Where a point-in-time restore to ``target`` cuts the AOF: after ``last_second`` (the newest
    annotated second replayed), so the state reached is that at ``point`` (every write before it)."""

    target: float
    last_second: int

    @property
    def point(self) -> float:
        return float(self.last_second + 1)

    @property
    def exact(self) -> bool:
        return self.point == self.target

    def note(self) -> str:
        """For people: what was reached, and why it is not the target when it is not."""
        if self.exact:
            return f"restored to {iso(self.point)}"
        return (
            f"AOF timestamps are whole seconds; restored to {iso_ms(self.point)}, the last instant "
            f"provably before {timespec.format_time(datetime.fromtimestamp(self.target, UTC))}"
        )


def aof_cut(target: float) -> AofCut:
    """The one cut rule: replay the seconds before ``floor(target)``, none of ``floor(target)``."""
    return AofCut(target, math.floor(target) - 1)


@dataclass(frozen=True, kw_only=True)
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
    ts_off: bool = False  # archived while the server had aof-timestamp-enabled off (pitr_guard)
    small: bool = False  # an AOF increment (one object, at most aoflog.MAX_PIECE bytes): fetched ahead, in parallel
    history: str | None = None  # the server history it was made from (``history``); None: not recorded
    source: str = ""  # the source name that recorded it

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass
class Group:
    base: str
    start: float
    pieces: list[Piece] = field(default_factory=list)
    history: str | None = None

    @property
    def last_ts(self) -> int | None:
        stamps = [p.last_ts for p in self.pieces if p.last_ts is not None]
        return max(stamps) if stamps else None

    @property
    def end(self) -> float:
        return max([float(self.last_ts or 0), *(p.captured for p in self.pieces)])

    @property
    def has_incr_data(self) -> bool:
        return any(p.type == "i" and p.length > 0 for p in self.pieces)  # any command: it may be after T


def parse_time(text: str) -> float:
    """Seconds since the epoch of a time in drkit's one grammar (``drkit.core.timespec``)."""
    return timespec.parse_time(text).timestamp()


def parse_time_utc(text: str) -> datetime:
    return timespec.parse_time(text).astimezone(UTC)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def iso_ms(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def group_pieces(pieces: list[Piece]) -> list[Group]:
    """The pieces by the base they follow (its name and second) and the server history they were made
    from: two servers' files share names (``history``)."""
    keyed: dict[tuple[str, int], list[Piece]] = {}
    for p in pieces:
        keyed.setdefault((p.base, int(p.base_mtime)), []).append(p)
    groups = [
        Group(base, float(second), part, h)
        for (base, second), found in keyed.items()
        for h, part in history.split(found).items()
    ]
    return sorted(groups, key=lambda g: g.start)


def choose_group(groups: list[Group], cut: AofCut) -> Group:
    """The newest group covering the cut: its base written in a second the cut replays (so the base
    holds nothing after the point) and its data reaching the point; a clear error otherwise, and a refusal
    when the groups covering it are of several servers' histories (``history.refuse_mixed``)."""
    covering = [g for g in groups if g.start <= cut.last_second and cut.point <= g.end]
    history.refuse_mixed(covering, iso(cut.target))
    if covering:
        g = covering[-1]
        if g.last_ts is None and g.has_incr_data:
            raise UsageError(
                "the AOF has no timestamp annotations (aof-timestamp-enabled was off): "
                "point-in-time restore is not possible from it",
                hint="set aof-timestamp-enabled yes on the server; until then restore a snapshot as a whole",
            )
        return g
    windows = ", ".join(f"{iso(g.start + 1)} .. {iso(g.end)}" for g in groups) or "none"  # as `redis windows`
    raise UsageError(
        f"{iso(cut.target)} is not covered by the AOF backups (recoverable windows: {windows}; "
        "AOF times are whole seconds: a point inside a second reaches its start)"
    )


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
    seqs = [p.seq for p in ordered if p.type == "i"]
    if seqs and seqs != list(range(seqs[0], seqs[0] + len(seqs))):  # Redis numbers them one by one
        raise UsageError(
            f"an INCR file between {ordered[1].file} and {ordered[-1].file} is not in the repository: "
            "point-in-time restore is not possible from this AOF"
        )
    plans = {p.file: _plan_file(group.pieces, p.file) for p in ordered}
    for p in ordered:
        have = max((x.end for x in group.pieces if x.file == p.file), default=0)
        if sum(pc.end - pc.offset - skip for pc, skip in plans[p.file]) != have:
            # the archiver always goes on from the archived end: a hole is a piece gone from the repository
            reached = sum(pc.end - pc.offset - skip for pc, skip in plans[p.file])
            raise IntegrityError(
                f"archived pieces of {p.file} have a hole after byte {reached}: point-in-time restore is not possible",
                hint="run drkit check; restore a point before the hole, or a snapshot",
            )
    return [AofFile(p.file, p.seq, p.type) for p in ordered], plans


def to_verify(group: Group, plans: dict[str, list[tuple[Piece, int]]]) -> list[Piece]:
    """The pieces of ``group`` no plan replays whose metadata still counts: a later capture time or
    annotation than every replayed piece's (they stretch the group's window) or a recorded timestamp
    setting off (``pitr_guard``). An archived increment's metadata is its name, verified only when the
    object is read, so these are read (and discarded) before a restore trusts them."""
    used = [p for plan in plans.values() for p, _ in plan]
    captured = max((p.captured for p in used), default=0.0)
    last_ts = max((p.last_ts or 0 for p in used), default=0)
    return [
        p
        for p in group.pieces
        if not any(p is u for u in used) and (p.captured > captured or (p.last_ts or 0) > last_ts or p.ts_off)
    ]


class _Discard:
    def write(self, data: Any) -> int:
        return len(data)


def verify(pieces: list[Piece]) -> None:
    """Read each of ``pieces`` (an IntegrityError if one is damaged, renamed or gone), keeping nothing."""
    for piece in pieces:
        piece.fetch(_Discard())  # type: ignore[arg-type]


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


AHEAD = 16  # increments fetched ahead of the one being written (at most 16 × 4 MiB held)


def _buffered(piece: Piece) -> bytes:
    buf = io.BytesIO()
    piece.fetch(buf)
    return buf.getvalue()


def _write_file(out: BinaryIO, plan: list[tuple[Piece, int]], pool: ThreadPoolExecutor) -> None:
    """The pieces of ``plan`` in order; an archive's many small increments (one object each: a round trip
    apiece) are fetched up to ``AHEAD`` at a time, other pieces (streams in the packs) as they come."""
    ahead: deque[Future[bytes]] = deque()
    for i, (piece, skip) in enumerate(plan):
        if not piece.small:
            piece.fetch(_Skip(out, skip))  # type: ignore[arg-type]
            continue
        while len(ahead) < AHEAD and i + len(ahead) < len(plan) and plan[i + len(ahead)][0].small:
            ahead.append(pool.submit(_buffered, plan[i + len(ahead)][0]))
        _Skip(out, skip).write(ahead.popleft().result())


def write_group(
    aof_dir: Path, manifest_name: str, files: list[AofFile], plans: dict[str, list[tuple[Piece, int]]]
) -> None:
    aof_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(4, thread_name_prefix="drkit-aof-fetch") as pool:
        for f in files:
            with open(aof_dir / f.name, "wb") as out:
                _write_file(out, plans[f.name], pool)
    (aof_dir / manifest_name).write_bytes(render_manifest(files))


def files_to_cut(files: list[AofFile], group: Group, cut: AofCut) -> list[AofFile]:
    """The files the cut keeps: the base and the INCR files up to the first one holding a second after
    the cut (the one ``redis-check-aof`` truncates, which must be the manifest's last); later INCR files
    hold only commands after the cut (each starts at or after that second) and are left out."""
    last_ts: dict[str, int] = {}
    for p in group.pieces:
        if p.last_ts is not None:
            last_ts[p.file] = max(p.last_ts, last_ts.get(p.file, p.last_ts))
    kept: list[AofFile] = []
    for f in files:
        kept.append(f)
        if f.type == "i" and last_ts.get(f.name, cut.last_second) > cut.last_second:
            break
    return kept


_HEAD = re.compile(rb"#TS:(\d+)\r\n")


def truncate_to(aof_dir: Path, manifest_name: str, files: list[AofFile], cut: AofCut) -> None:
    """Cut the assembled AOF after ``cut.last_second``. An INCR file whose very first annotation is after
    the cut holds nothing to keep: emptied here (``redis-check-aof`` refuses to cut at offset 0)."""
    incr = [f for f in files if f.type == "i"]
    if incr:
        path = aof_dir / incr[-1].name
        with open(path, "rb") as fh:
            head = _HEAD.match(fh.read(32))
        if head is not None and int(head.group(1)) > cut.last_second:
            with open(path, "r+b") as fh:
                fh.truncate(0)
    tool = shutil.which("redis-check-aof")
    if tool is None:
        raise RedisSourceError("redis-check-aof not found on PATH", hint="install Redis 7 (Debian: redis-tools)")
    proc = subprocess.run(
        [tool, "--truncate-to-timestamp", str(cut.last_second), str(aof_dir / manifest_name)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        last = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
        raise RedisSourceError(f"redis-check-aof could not truncate the AOF to {iso(cut.last_second)}: {last[0]}")
