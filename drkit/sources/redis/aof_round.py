"""One round of continuous AOF archiving (``drkit redis aof-archive``, the daemon's archiver): what is new
in the AOF directory since the last round goes into the repository.

- A new base file (an AOF rewrite started a new group) is a deduplicated stream in the packs, named by a
  ``redis_aof`` record (packs, then index, then the record): a base is large and mostly the data of the
  last one, which the chunker shares.
- The growth of each INCR file is stored as AOF increments, objects of the repository's log archive
  (``aoflog``): the bytes new since the last round up to the last whole command outside ``MULTI`` in the
  file Redis appends to (``aof_tail``), split into pieces of at most ``aoflog.MAX_PIECE`` bytes, each
  written once, in file order.

Where the last round ended comes from both forms (``segments``) of the directory's own history
(``archived_ends``), so a restart goes on without a byte twice or a hole; an archive begun by an older
drkit (which stored INCR growth as records too, with no history id) goes on after its group is archived
once more from its start.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ...core import clock
from ...core.errors import UsageError
from ...repository.repo import Repository
from ...repository.streams import store_refs
from ...repository.writer import BlobWriter
from . import aoflog, history
from .aof import AofFile, AofState, LimitedReader, iter_state_files, read_state
from .aof_tail import complete_end
from .backup import FSYNC_SLACK
from .errors import RedisSourceError
from .kinds import ARCHIVE_KIND
from .segments import segments

log = logging.getLogger("drkit.redis")

ArchiveKey = tuple[str, int, str]  # base, base mtime (whole seconds, as catalog groups), file
Todo = tuple[ArchiveKey, AofFile, int]  # the file (size: where this round ends) and where it starts
Ends = dict[str | None, dict[ArchiveKey, int]]  # per server history (None: no id): ``archived_ends``


def archived_ends(repo: Repository, name: str, history_of: str | None) -> dict[ArchiveKey, int]:
    """(base, base mtime, file) → bytes already archived for source ``name`` from the server history
    ``history_of``, in either form. The mtime tells an AOF directory started again (same file names, new
    base) from the one archived before. Only pieces of that history count: another server archived under
    the same name has files of the same names (``history``). Pieces without an id count only for an
    archiver that has none either: taking them for its own, an archiver with an id would skip the bytes
    another (id-less) server archived up to; an archive begun by an older drkit is archived again from its
    group's start instead (once, deduplicated; the planner takes overlapping pieces of one history)."""
    ends: dict[ArchiveKey, int] = {}
    for _, doc in segments(repo, name):
        if doc.get("history") != history_of:
            continue
        key = (doc["base"], int(float(doc["base_mtime"])), doc["file"])
        ends[key] = max(ends.get(key, 0), doc["offset"] + doc["length"])
    return ends


def _store_base(repo: Repository, aof_dir: Path, state: AofState, f: AofFile, name: str) -> dict[str, Any]:
    """The base file as a stream (its record is written once the round's increments are stored)."""
    reader = LimitedReader(aof_dir / f.name, f.size)
    try:
        with BlobWriter(repo=repo) as writer:
            refs = writer.write_stream(reader)  # type: ignore[arg-type]
            lists = store_refs(writer, refs)
            writer.flush()
    finally:
        reader.close()
    length = sum(r.length for r in refs)
    assert state.base is not None
    return {
        "source_name": name,
        "base": state.base.name,
        "base_mtime": state.base_mtime,
        "file": f.name,
        "seq": f.seq,
        "type": f.type,
        "offset": 0,
        "length": length,
        "first_ts": reader.first_ts,
        "last_ts": reader.last_ts,
        "root": {"type": "stream", "lists": lists, "size": length},
    }


def _increment(key: ArchiveKey, f: AofFile, name: str, run: dict[str, Any], span: tuple[int, int]) -> aoflog.Increment:
    return aoflog.Increment(
        source=name,
        base=key[0],
        base_mtime=key[1],
        file=f.name,
        seq=f.seq,
        offset=span[0],
        end=span[1],
        last_ts=run.get("last_ts"),
        archived_ms=math.floor(run["archived_at"] * 1000),  # never later than the capture (a name holds ms)
        run=run["run"],
        records=run["run_records"],
        ts_enabled=run.get("ts_enabled"),
        history=run.get("history"),
    )


def _check_name(todo: list[Todo], name: str, run: dict[str, Any]) -> None:
    """Refuse a source or file name too long for an object name before anything is stored."""
    for key, f, start in todo:
        longest = _increment(key, f, name, {**run, "last_ts": 10**10}, (start, f.size))
        if f.type == "i" and len(longest.name) > aoflog.MAX_NAME:
            raise UsageError(
                f"AOF increments of source {name!r} file {f.name} would need object names of "
                f"{len(longest.name)} characters (at most {aoflog.MAX_NAME})",
                hint="give the source a shorter --name",
            )


def _store_growth(
    repo: Repository, aof_dir: Path, todo: Todo, name: str, run: dict[str, Any]
) -> list[aoflog.Increment]:
    """The bytes ``[start, size)`` of an INCR file as increments of at most ``MAX_PIECE`` bytes, in order."""
    key, f, start = todo
    logs = aoflog.archive(repo)
    stored: list[aoflog.Increment] = []
    reader = LimitedReader(aof_dir / f.name, f.size - start, start)
    try:
        pos = start
        while pos < f.size:
            data = reader.read(aoflog.MAX_PIECE)
            if not data:
                break  # shorter than read a moment ago: the round's count stays unmet (no capture time)
            inc = _increment(key, f, name, {**run, "last_ts": reader.last_ts}, (pos, pos + len(data)))
            logs.add(inc.name, data)
            stored.append(inc)
            pos = inc.end
    finally:
        reader.close()
    return stored


def _todo(state: AofState, aof_dir: Path, ends: dict[ArchiveKey, int]) -> list[Todo]:
    assert state.base is not None
    found: list[Todo] = []
    growing = state.incrs[-1].name if state.incrs else None  # the one file Redis appends to
    for f in iter_state_files(state):
        key = (state.base.name, int(state.base_mtime), f.name)
        start = ends.get(key, 0)
        if f.name == growing:  # never end a piece inside a command: the rest waits for the next round
            f = replace(f, size=complete_end(aof_dir / f.name, start, f.size))
        if f.size > start and (f.type == "i" or start == 0):
            found.append((key, f, start))
    return found


def archive_once(
    repo: Repository,
    aof_dir: Path,
    name: str,
    ends: Ends | None = None,
    ts_enabled: bool | None = None,
) -> list[dict[str, Any]]:
    """Archive every new file and the growth of every INCR file since the last round; one document per
    piece stored (a record's fields; an increment's carries its object ``name``). ``ends`` (per history,
    updated in place) saves re-reading the archive in a loop; a directory whose id changed (a restore
    wrote it) reads its own. ``ts_enabled`` (when the server was asked) says whether
    Redis annotated the bytes archived now: recorded, a point in time refuses to cut inside bytes archived
    with it False (``pitr_guard``)."""
    if not name:
        raise UsageError("the AOF archive needs a source name", hint="give --name NAME")
    # held: no restore writes the directory meanwhile; RestoreInProgress (nothing read) while one does,
    # or one stopped half-way: the caller's round did not succeed (``ops.aof_archive``)
    with history.reading(aof_dir) as history_of:
        return _round(repo, aof_dir, name, (history_of, {} if ends is None else ends), ts_enabled)


HELD_SAID_EVERY = 60.0  # seconds between two warnings while a restore's marker holds the directory


class HeldRounds:
    """Rounds a restore holds back (``history.RestoreInProgress``: nothing read). Never a success: the
    caller's freshness stays where it was (``DrkitArchiveStale`` fires), ``on_held`` hears each, and it
    is said at the first and then once a minute while it lasts: a marker left by a restore that stopped
    half-way stops archiving until someone acts. With ``once`` (a scheduler's run) it is the error."""

    def __init__(self, once: bool, on_held: Callable[[], None] | None) -> None:
        self.once, self.on_held, self.said_at = once, on_held, -math.inf

    def round(self, exc: history.RestoreInProgress) -> None:
        if self.once:
            raise exc
        if self.on_held is not None:
            self.on_held()
        if clock.now() - self.said_at >= HELD_SAID_EVERY:
            self.said_at = clock.now()
            log.warning("%s; nothing archived until it is done%s", exc, f" (hint: {exc.hint})" if exc.hint else "")

    def ended(self) -> None:
        self.said_at = -math.inf


def _round(
    repo: Repository, aof_dir: Path, name: str, held: tuple[str | None, Ends], ts_enabled: bool | None
) -> list[dict[str, Any]]:
    history_of, known = held
    if history_of not in known:
        known[history_of] = archived_ends(repo, name, history_of)
    mine = known[history_of]
    seen = clock.now()  # the sizes read now bound what is archived: the coverage ends here, not after the upload
    state = read_state(aof_dir)
    if state.base is None:
        raise RedisSourceError(f"{aof_dir}: the manifest names no base file")
    todo = _todo(state, aof_dir, mine)
    # a capture time counts only once every piece of its round is stored (catalog.aof_pieces): a round
    # stopped or read between two pieces (a new base stored, its INCR file not yet) must not claim the
    # state up to `seen` with the writes left out
    count = sum(1 if f.type == "b" else math.ceil((f.size - start) / aoflog.MAX_PIECE) for _, f, start in todo)
    run: dict[str, Any] = {"archived_at": seen - FSYNC_SLACK, "run": uuid.uuid4().hex[:12], "run_records": count}
    if ts_enabled is not None:
        run["ts_enabled"] = ts_enabled
    if history_of is not None:
        run["history"] = history_of
    _check_name(todo, name, run)
    bases = [(key, _store_base(repo, aof_dir, state, f, name)) for key, f, _ in todo if f.type == "b"]
    done: list[dict[str, Any]] = []
    for item in (t for t in todo if t[1].type == "i"):
        for inc in _store_growth(repo, aof_dir, item, name, run):
            done.append({**inc.doc(), "name": inc.name})
            mine[item[0]] = inc.end
    for key, doc in bases:
        doc.update(run)
        repo.manifests.put(ARCHIVE_KIND, doc)
        mine[key] = doc["length"]
        done.insert(0, doc)
    return done
