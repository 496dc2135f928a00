"""Refuse a point-in-time cut that could replay writes after the point.

``redis-check-aof --truncate-to-timestamp S`` cuts at the first annotation after ``S`` and keeps every
command before it. A command followed (before that cut) by an annotation ``≤ S`` ran before that
annotation's second ended, so it is before the point. The commands after the last annotation kept
(the *tail*) are dated only by that annotation: true while Redis wrote annotations
(``aof-timestamp-enabled yes``), false once it stopped (``CONFIG SET aof-timestamp-enabled no``, a restart
without the setting): then the tail may hold writes made long after the point.

The tail is refused (exit 2) when the repository shows it may reach past the point:
- an archived segment covering tail bytes was recorded with timestamps off (``aof-archive --url`` checks
  the setting every round), or
- a capture (archive record or AOF snapshot) made at or after the point did not yet hold some tail
  bytes: those were written after the point (a capture's time is its start less the fsync slack).
Without either proof the tail keeps the annotation's second, as Redis promises with timestamps on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ...core.errors import UsageError
from .aof import AofFile
from .pitr import AofCut, Group

Span = tuple[str, int, int]  # file, first byte, end


def iter_annotations(path: Path) -> Iterator[tuple[int, int, int]]:
    """(offset of the line, offset after it, second) of each ``#TS:`` annotation of an INCR file, read
    command by command (RESP) so a value holding ``#TS:`` text is not taken for one. Hand-written: no
    library parses AOF files; a truncated last command ends the walk (Redis drops it on load)."""
    with open(path, "rb") as fh:
        pos = 0
        while line := fh.readline():
            start, pos = pos, pos + len(line)
            if line.startswith(b"#TS:"):
                yield start, pos, int(line[4:].strip())
            elif line.startswith(b"*"):
                for _ in range(int(line[1:].strip() or 0)):
                    head = fh.readline()
                    if not head.startswith(b"$"):
                        return
                    size = int(head[1:].strip()) + 2
                    pos += len(head) + len(fh.read(size))


def unproven_tail(aof_dir: Path, files: list[AofFile], cut: AofCut) -> list[Span]:
    """The byte spans the cut keeps after the last annotation ``≤ cut.last_second`` (INCR files only: the
    base was written in a second the cut replays, ``pitr.choose_group``)."""
    incr = [f for f in files if f.type == "i"]
    sizes = {f.name: (aof_dir / f.name).stat().st_size for f in incr}
    spans: list[Span] = []
    for f in incr:
        spans.append((f.name, 0, sizes[f.name]))
        for start, after, second in iter_annotations(aof_dir / f.name):
            if second > cut.last_second:  # redis-check-aof cuts here
                spans[-1] = (f.name, spans[-1][1], start)
                return [s for s in spans if s[2] > s[1]]
            spans = [(f.name, after, sizes[f.name])]
    return [s for s in spans if s[2] > s[1]]


def _refuse(why: str) -> UsageError:
    return UsageError(
        f"point-in-time restore refused: {why}, so the AOF cannot tell which of its last commands ran after the point",
        hint="restore a later point or a snapshot as a whole; keep aof-timestamp-enabled yes and "
        "run aof-archive with --url so drkit records it",
    )


def check_tail(aof_dir: Path, files: list[AofFile], group: Group, cut: AofCut) -> None:
    """Refuse (exit 2) when the tail the cut keeps may hold writes after the point (module doc)."""
    tail = unproven_tail(aof_dir, files, cut)
    for name, start, end in tail:  # the recorded setting first: it names the cause
        for p in group.pieces:
            if p.file == name and p.ts_off and p.offset < end and start < p.end:
                raise _refuse(
                    f"{name} bytes {max(start, p.offset)}.. were archived while aof-timestamp-enabled was off"
                )
    for name, start, end in tail:
        for p in group.pieces:
            if p.file == name and p.captured >= cut.point and max(start, p.end) < end:
                raise _refuse(
                    f"{name} bytes {max(start, p.end)}.. carry no timestamp and were written after "
                    "the point (a capture after it did not hold them)"
                )
