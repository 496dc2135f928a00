"""MySQL / MariaDB binary logs in the repository's log archive (kind :data:`BINLOG`, FORMAT.md §11).

Each closed binary log of a source is stored in parts of at most :data:`PART` bytes (a log may be
1 GiB; a part is read, sealed and verified whole), one log-archive object each, and every archive run
ends with a *reach marker*. Object names (``<S>`` is the source name with every byte of its UTF-8 but
ASCII letters, digits and ``-`` written ``_<2 hex>``, so it holds no ``.`` and fits any object key; it
is also the shard directory)::

    <S>.<log file>.<i:04>-<n:04>          part i of n of the log (i from 1), its raw bytes
    <S>.<log file>.until-<YYYYmmddTHHMMSSffffff>Z
                                           every event the server logged before that time (its UTC
                                           clock) is in this log or an earlier one; a JSON body
                                           {"source", "file", "covers_until", "server"}

A log counts as archived once all its parts are there. A log's parts are content only, so storing
them again (a run interrupted and repeated) finds them present; another content under a part's name is
a conflict (two servers archived under one source name). Retention keeps, per source, the logs from
the one its oldest kept ``--pitr`` dump starts in onward (all of them while it has none); ``copy``
carries what the copied dumps need, ``check`` reports missing parts and logs within that range, and
``check --read-data`` sees a first part start with the binary-log magic and a marker name its body.
Repositories written before this layout hold binary logs as ``mysql-binlog`` stream snapshots
(``binlog.py`` reads both).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from ...repository.archive import LogArchive, LogKind, log_prefix
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ..archives import plan_copy
from ..logarchives import ArchiveCopy, ArchiveSpec, Needed
from .errors import MysqlUsage

OLD_KIND = "mysql-binlog"  # repositories written before: one stream snapshot per log (binlog.py)
PART = 16 << 20
MAGIC = b"\xfebin"  # every binary log starts with it
_FILE = re.compile(r"^(?P<base>[A-Za-z0-9_-][A-Za-z0-9_.-]*)\.(?P<n>\d+)$")
_TAIL = re.compile(r"^(?P<i>\d{4})-(?P<n>\d{4})$|^until-(?P<t>\d{8}T\d{12})Z$")
_T = "%Y%m%dT%H%M%S%f"
_SAFE = re.compile(r"[^A-Za-z0-9-]")
_ENCODED = re.compile(r"(?:[A-Za-z0-9-]|_[0-9a-f]{2})+")


def checked_file(file: str) -> str:
    """``file`` if it is a binary log name this layout stores (``BASENAME.NNNNNN``), else MysqlUsage."""
    if not _FILE.match(file):
        raise MysqlUsage(f"unexpected binary log name {file!r} (expected BASENAME.NNNNNN of [A-Za-z0-9_.-])")
    return file


def encode_source(source: str) -> str:
    if not source:
        raise MysqlUsage("a binary-log archive needs a source name (--name)")
    return _SAFE.sub(lambda m: "".join(f"_{b:02x}" for b in m[0].encode()), source)


def decode_source(text: str) -> str | None:
    """The source name ``encode_source`` wrote as ``text`` (None: not such a name)."""
    if not _ENCODED.fullmatch(text):
        return None
    try:
        return re.sub(rb"_([0-9a-f]{2})", lambda m: bytes.fromhex(m[1].decode()), text.encode()).decode()
    except UnicodeDecodeError:
        return None


def _shard(name: str) -> str:
    return name.split(".", 1)[0]


BINLOG = LogKind(
    label="binlog",
    noun="binary log object",
    prefix=log_prefix("binlog"),
    magic=b"DKB1",
    aad="drkit/binlog/",
    shard=_shard,
)


@dataclass(frozen=True, kw_only=True)
class LogName:
    source: str
    file: str
    part: int = 0  # 1..parts; 0: a reach marker
    parts: int = 0
    until: datetime | None = None  # a marker's time


def parse(name: str) -> LogName | None:
    """What a binary-log object's name says, or None if it is not one of this layout."""
    head, _, rest = name.partition(".")
    file, _, tail = rest.rpartition(".")
    source = decode_source(head)
    if source is None or not _FILE.match(file) or (m := _TAIL.match(tail)) is None:
        return None
    if m["t"]:
        return LogName(source=source, file=file, until=datetime.strptime(m["t"], _T).replace(tzinfo=UTC))
    return LogName(source=source, file=file, part=int(m["i"]), parts=int(m["n"]))


def part_name(source: str, file: str, i: int, n: int) -> str:
    return f"{encode_source(source)}.{file}.{i:04d}-{n:04d}"


def marker_name(source: str, file: str, until: datetime) -> str:
    return f"{encode_source(source)}.{file}.until-{until.astimezone(UTC).strftime(_T)}Z"


def archive(repo: Repository) -> LogArchive:
    return LogArchive(repo, BINLOG)


def source_names(repo: Repository, source: str) -> list[LogName]:
    """Every binary-log object of ``source``, parsed."""
    found = (parse(n) for n in archive(repo).times(f"{encode_source(source)}."))
    return [n for n in found if n is not None and n.source == source]


def file_key(file: str) -> tuple[str, int]:
    m = _FILE.match(file)
    return (m["base"], int(m["n"])) if m else (file, -1)


def _starts(snaps: list[Snapshot]) -> dict[str, dict[str, int]]:
    """Source → binary-log base name → the oldest log number a ``--pitr`` dump in ``snaps`` starts in."""
    starts: dict[str, dict[str, int]] = {}
    for s in snaps:
        if s.source_kind == "mysql" and isinstance(s.meta.get("binlog"), dict):
            base, number = file_key(str(s.meta["binlog"].get("file", "")))
            by_base = starts.setdefault(s.source_name, {})
            by_base[base] = min(number, by_base.get(base, number))
    return starts


def needed(repo: Repository, snaps: list[Snapshot]) -> Needed:
    """A log (part or marker) is needed unless its source has a ``--pitr`` dump in ``snaps`` that
    starts in a later log of the same base name."""
    return _needed(_starts(snaps))


def _needed(starts: dict[str, dict[str, int]]) -> Needed:
    def need(name: str) -> bool:
        parsed = parse(name)
        if parsed is None or parsed.source not in starts:
            return True  # not ours to judge, or no dump to say: kept
        base, number = file_key(parsed.file)
        return number >= starts[parsed.source].get(base, number)

    return need


def old_needed(kept: list[Snapshot], every: list[Snapshot]) -> set[str]:
    """The ``mysql-binlog`` snapshots (the old form) a kept ``--pitr`` dump replays: of each source,
    those from the log its oldest kept dump starts in onward (all of them while it has none), as
    ``needed`` keeps the log archive's objects; ``drkit forget`` with a policy keeps them."""
    starts, held = _starts(kept), set()
    for s in every:
        if s.source_kind == OLD_KIND:
            base, number = file_key(str(s.meta.get("file", "")))  # an unreadable name: (name, -1), kept
            by_base = starts.get(s.source_name)
            if by_base is None or number >= by_base.get(base, number):
                held.add(s.id)
    return held


def copy_needed(repo: Repository, snaps: list[Snapshot]) -> Needed:
    """What ``drkit copy`` carries for the copied snapshots ``snaps``: the logs ``needed`` keeps, but
    only of sources with a ``mysql`` snapshot among them (retention keeps another source's logs; a copy
    must not carry them into the target)."""
    sources = {s.source_name for s in snaps if s.source_kind == "mysql"}
    need = needed(repo, snaps)

    def carried(name: str) -> bool:
        parsed = parse(name)
        return parsed is not None and parsed.source in sources and need(name)

    return carried


def _copy(source: Repository, target: Repository, chosen: list[Snapshot]) -> ArchiveCopy | None:
    return plan_copy(replace(archive_spec(), needed=copy_needed, copy=None), source, target, chosen)


def gap_lines(snaps: list[Snapshot], names: list[str]) -> list[str]:
    """Logs with parts missing, and logs missing from the archive after the oldest ``--pitr`` dump's
    start (up to the newest archived): no point-in-time restore can cross either."""
    parts: dict[tuple[str, str], tuple[int, set[int]]] = {}
    need = _needed(_starts(snaps))  # a log no dump needs may be partly trimmed (a forget stopped, a part locked)
    for parsed in filter(None, map(parse, (n for n in names if need(n)))):
        if parsed.part:
            count, have = parts.setdefault((parsed.source, parsed.file), (parsed.parts, set()))
            have.add(parsed.part)
    old = {(s.source_name, str(s.meta.get("file"))) for s in snaps if s.source_kind == OLD_KIND}
    lines = [
        f"binary log {file} of source {source}: part(s) {sorted(set(range(1, count + 1)) - have)} of {count} missing"
        for (source, file), (count, have) in sorted(parts.items())
        if set(range(1, count + 1)) - have
    ]
    complete = {key for key, (count, have) in parts.items() if len(have) == count} | old
    for source, by_base in sorted(_starts(snaps).items()):
        for base, low in sorted(by_base.items()):
            numbers = {file_key(f)[1] for s, f in complete if s == source and file_key(f)[0] == base}
            top = max(numbers, default=low)
            missing = [n for n in range(low, top) if n not in numbers]
            lines += [f"binary log {base}.{n:06d} of source {source} missing from the archive" for n in missing]
    return lines


def problem(name: str, data: bytes) -> str | None:
    """What ``check --read-data`` finds wrong with a decoded object: a first part not starting with
    the binary-log magic, a marker whose body does not name it."""
    parsed = parse(name)
    if parsed is None:
        return "has a name that is not a binary-log part or marker"
    if parsed.part == 1 and not data.startswith(MAGIC):
        return "does not start with the binary-log magic"
    if parsed.until is not None:
        try:
            doc = json.loads(data)
            ok = (doc["source"], doc["file"]) == (parsed.source, parsed.file)
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            return "is a reach marker whose body does not name its source and log"
    return None


def inspector(_snaps: list[Snapshot]) -> Callable[[str, bytes], str | None]:
    return problem


def archive_spec() -> ArchiveSpec:
    """The binary-log archive as the ``mysql`` plugin declares it (``HasLogArchives``)."""
    return ArchiveSpec(
        label="binlog",
        noun="binary log object",
        nouns="binary log objects",
        source_kind="mysql",
        log=BINLOG,
        needed=needed,
        gaps=lambda _repo, snaps, names: gap_lines(snaps, names),
        inspect=inspector,
        copy=_copy,
        copy_key="binlog_objects",
        holds=old_needed,
    )
