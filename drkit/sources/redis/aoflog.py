"""AOF increments as objects of the repository's log archive (FORMAT.md §11, "Redis AOF increments").

``drkit redis aof-archive`` stores the growth of each INCR file, round after round, as log objects of
kind :data:`AOF_LOG`: one object per contiguous byte range ``[offset, end)`` of one INCR file, at most
:data:`MAX_PIECE` bytes (``LogArchive`` holds an object in memory whole). The object's name says
everything a point-in-time restore plans with, and the log archive binds the name to the content
(it is the sealed object's authenticated data), so a renamed or replaced object is refused when read::

    logs/aof/<source>/<source>_<base mtime s>_<base>_<seq>_<file>_<offset>_<end>
                      _<last_ts|x>_<archived ms>_<run>_<records>_<ts>[_<history>]   (one name, no line break)

Text fields keep letters, digits and dots and write every other byte as ``-XX`` (``_`` too), so ``_``
only separates; numbers are zero-padded (seq 6, offsets 12 digits), so names sort in file order. ``last_ts``
is the newest ``#TS:`` annotation the round saw in the file up to ``end`` (``x``: none); ``archived ms`` the
round's capture time (its start less the fsync slack); ``run``/``records`` the round's id and how many
pieces it stored in all (the base's ``redis_aof`` record counts): a capture time proves the state only
when every piece of its round is there. ``ts`` is ``y``/``n``/``u``: the server wrote annotations /
did not / was not asked (``pitr_guard``). ``history`` (12 hex digits; absent in an older drkit's names)
is the server history the bytes were read from (``history``).

A base file is not a log: it stays a deduplicated stream in the packs, referenced by a ``redis_aof``
record (``aof_round.archive_once``), as every archived segment was before this format; those old INCR
records are still read (``catalog.aof_pieces``), and an archive begun by an older drkit goes on here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import unquote

from ...core.errors import IntegrityError
from ...repository.archive import LogArchive, LogKind
from ...repository.repo import Repository
from .history import valid as valid_history

SEP = "_"
_ENCODED = re.compile(r"(?:[A-Za-z0-9.]|-[0-9A-F]{2})*")
MAX_PIECE = 4 << 20  # bytes per object at most: a first round over a large INCR file is split
MAX_NAME = 240  # a local backend stores the name as one file name (255 bytes at most)
_TS = {True: "y", False: "n", None: "u"}
_TS_BACK = {v: k for k, v in _TS.items()}


def _shard(name: str) -> str:
    return name.split(SEP, 1)[0]  # the source: one directory per Redis source


AOF_LOG = LogKind(label="aof", noun="AOF increment", prefix="logs/aof/", magic=b"DKA1", aad="drkit/aof/", shard=_shard)


def archive(repo: Repository) -> LogArchive:
    """The repository's archive of AOF increments."""
    return LogArchive(repo, AOF_LOG)


def _enc(text: str, keep: str = ".") -> str:
    """``text`` in the characters of an object key: letters, digits and ``keep`` as they are, every other
    UTF-8 byte as ``-XX`` (hex), so ``_`` only separates fields (a source's dots are escaped too: its field
    is the shard directory, and a key part may not be ``.`` or ``..``)."""
    return "".join(c if c.isascii() and (c.isalnum() or c in keep) else _escape(c) for c in text)


def _escape(c: str) -> str:
    return "".join(f"-{b:02X}" for b in c.encode())


def _dec(text: str) -> str:
    if not _ENCODED.fullmatch(text):
        raise ValueError(text)
    return unquote(text.replace("%", "%25").replace("-", "%"), errors="strict")


@dataclass(frozen=True, kw_only=True)
class Increment:
    """What one object's name says (module doc)."""

    source: str
    base: str
    base_mtime: int
    file: str
    seq: int
    offset: int
    end: int
    last_ts: int | None
    archived_ms: int
    run: str
    records: int
    ts_enabled: bool | None
    history: str | None = None  # the server history (``history``); an older drkit's names have none

    @property
    def name(self) -> str:
        fields = [
            _enc(self.source, keep=""),
            str(self.base_mtime),
            _enc(self.base),
            f"{self.seq:06d}",
            _enc(self.file),
            f"{self.offset:012d}",
            f"{self.end:012d}",
            "x" if self.last_ts is None else str(self.last_ts),
            str(self.archived_ms),
            self.run,
            str(self.records),
            _TS[self.ts_enabled],
        ]
        return SEP.join(fields if self.history is None else [*fields, self.history])

    @property
    def group(self) -> tuple[str, str, int]:
        return self.source, self.base, self.base_mtime

    def doc(self) -> dict[str, Any]:
        """The fields of a ``redis_aof`` record this increment stands for (``segments``)."""
        return {
            "source_name": self.source,
            "base": self.base,
            "base_mtime": float(self.base_mtime),
            "file": self.file,
            "seq": self.seq,
            "type": "i",
            "offset": self.offset,
            "length": self.end - self.offset,
            "last_ts": self.last_ts,
            "archived_at": self.archived_ms / 1000,
            "run": self.run,
            "run_records": self.records,
            "ts_enabled": self.ts_enabled,
            "history": self.history,
        }

    @classmethod
    def parse(cls, name: str) -> Increment:
        """The fields of ``name``; IntegrityError if it is not an AOF increment's name."""
        f = name.split(SEP)
        try:
            if len(f) not in (12, 13) or f[11] not in _TS_BACK or not f[9].isalnum():
                raise ValueError(name)
            if len(f) == 13 and not valid_history(f[12]):
                raise ValueError(name)
            inc = cls(
                source=_dec(f[0]),
                base_mtime=int(f[1]),
                base=_dec(f[2]),
                seq=int(f[3]),
                file=_dec(f[4]),
                offset=int(f[5]),
                end=int(f[6]),
                last_ts=None if f[7] == "x" else int(f[7]),
                archived_ms=int(f[8]),
                run=f[9],
                records=int(f[10]),
                ts_enabled=_TS_BACK[f[11]],
                history=f[12] if len(f) == 13 else None,
            )
        except ValueError:
            raise IntegrityError(f"{AOF_LOG.prefix}: {name!r} is not the name of an AOF increment") from None
        if not 0 <= inc.offset < inc.end or inc.records < 1:
            raise IntegrityError(f"{AOF_LOG.prefix}: {name!r} names an empty or negative byte range")
        return inc


def increments(repo: Repository, source: str | None = None, *, strict: bool = True) -> Iterator[Increment]:
    """Every increment of ``source`` (all sources when None), from the listing alone (names not verified
    yet: each object a restore replays is verified against its name when read). A name that does not
    parse is an IntegrityError (an increment that cannot be placed must not be skipped silently into a
    restore), or with ``strict`` False left out (a freshness gauge)."""
    if source == "":
        return  # no increment has an empty source name (``aof_round`` refuses one)
    logs = archive(repo)
    names = logs.times(_enc(source, keep="") + SEP) if source is not None else logs.times()
    for name in sorted(names):
        try:
            inc = Increment.parse(name)
        except IntegrityError:
            if strict:
                raise
            continue
        if source is None or inc.source == source:
            yield inc


def fetch(logs: LogArchive, inc: Increment, out: BinaryIO) -> int:
    """Write the verified bytes of ``inc`` to ``out``; IntegrityError if gone, damaged or of another length."""
    where = f"AOF increment {inc.file} bytes {inc.offset}-{inc.end} ({logs.key(inc.name)})"
    try:
        data = logs.read(inc.name)
    except IntegrityError as exc:
        raise IntegrityError(f"{where} is damaged: {exc.message}", hint="run drkit check --read-data") from None
    if data is None:
        raise IntegrityError(
            f"{where} is gone from the repository",
            hint="run drkit check; restore a point before it or a snapshot",
        )
    if len(data) != inc.end - inc.offset:
        raise IntegrityError(f"{where} holds {len(data)} bytes, its name says otherwise")
    out.write(data)
    return len(data)


def inspect(name: str, data: bytes) -> str | None:
    """``check --read-data``'s look at a decoded increment: its name parses and its length matches."""
    try:
        inc = Increment.parse(name)
    except IntegrityError as exc:
        return exc.message
    if len(data) != inc.end - inc.offset:
        return f"holds {len(data)} bytes, its name says {inc.end - inc.offset}"
    return None


Span = tuple[int, int]
Chains = dict[tuple[str, str, int, str], dict[str | None, list[Span]]]  # (source, base, second, file) → history


def _holes(spans: list[Span]) -> list[Span]:
    holes: list[Span] = []
    reached: int | None = None
    for offset, end in sorted(spans):
        if reached is not None and offset > reached:
            holes.append((reached, offset))
        reached = end if reached is None else max(reached, end)
    return holes


def _record_spans(chains: Chains, records: Sequence[dict[str, Any]]) -> None:
    for d in records:
        if d.get("type") == "i":
            key = (str(d["source_name"]), str(d["base"]), int(float(d["base_mtime"])), str(d["file"]))
            start = int(d["offset"])
            chains.setdefault(key, {}).setdefault(d.get("history"), []).append((start, start + int(d["length"])))


def gap_lines(names: list[str], records: Sequence[dict[str, Any]] = ()) -> list[str]:
    """``drkit check``'s structural look at the increments (names only): each name parses, and the
    pieces of one file of one group follow each other without a hole (a restore stops at a hole, exit
    2), the older INCR ``records`` (``redis_aof``) an archive began with included: the increments go on
    from their end. Each server history is a chain of its own (``history``); pieces recorded without
    one (an older drkit's) belong to every chain of their file."""
    lines: list[str] = []
    chains: Chains = {}
    for name in names:
        try:
            inc = Increment.parse(name)
        except IntegrityError as exc:
            lines.append(exc.message)
            continue
        chains.setdefault((*inc.group, inc.file), {}).setdefault(inc.history, []).append((inc.offset, inc.end))
    _record_spans(chains, records)
    for (source, _base, _second, file), by_history in sorted(chains.items()):
        unknown = by_history.get(None, [])
        runs = [unknown + spans for history, spans in by_history.items() if history is not None] or [unknown]
        lines += [
            f"AOF increments of source {source} file {file}: bytes {a}-{b} are missing "
            "(a point-in-time restore stops before them)"
            for a, b in sorted({hole for spans in runs for hole in _holes(spans)})
        ]
    return lines


__all__ = ["AOF_LOG", "MAX_PIECE", "Increment", "archive", "fetch", "gap_lines", "increments", "inspect"]
