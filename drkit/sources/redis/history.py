"""Which Redis server's history an AOF piece belongs to, so a point-in-time restore never stitches two.

Pieces group by their base file's name and second (``pitr.group_pieces``), and two servers' AOF
directories share file names (``appendonly.aof.1.base.rdb``, ``...1.incr.aof``): without more, their
pieces could be one group (an INCR file stitched from both) or the newest group of either be restored.

**The history id.** The first drkit that reads an AOF directory for a backup or the archive writes a
random id into it (:data:`HISTORY_FILE`, next to the manifest; Redis leaves files it does not know
alone) and every piece made from that directory records it: an AOF snapshot's metadata
(``history``), a base's ``redis_aof`` record (``history``), an AOF increment's object name (its 13th
field). Redis' own ids do not do: ``run_id`` changes at every restart and ``master_replid`` may, while
the AOF (and so the history) goes on; file names and sequence numbers are alike on every server.

**The same history** is the same id: one AOF directory across restarts and rewrites, whatever source
name (a job's snapshots carry the job's name, its archive the source's ``name:``) recorded it. A new
directory (a server set up again, a restore) is a new history. A directory *copied* with its id file
is taken for the same history: delete the file in a copy before its server starts.

**Pieces without an id** (an older drkit's, or read from a directory drkit cannot write to) belong to
the history their source name recorded in their group, if just one (an archive begun by an older drkit
goes on as one). Never to a history only other names recorded: that may be another server's, whose
bytes would be stitched to theirs. Of a file, they fill only what lies before that history's own first
piece (``_own_first``): an archiver with an id stores its files from their start. Pieces with no id and
no such name are a group of their own,
restored as an older drkit did, so an old repository restores as before. The archiver goes on only
from pieces of its own history (``aof_round.archived_ends``): pieces without an id count only for an
archiver that has none either, never for one with an id (they may be another server's bytes).
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ...core.errors import UsageError
from .aof import MANIFEST_SUFFIX

if TYPE_CHECKING:
    from .pitr import Group, Piece

HISTORY_FILE = "drkit-history-id"
_ID = re.compile(r"[0-9a-f]{12}")
log = logging.getLogger("drkit.redis")


def valid(text: str) -> bool:
    return _ID.fullmatch(text) is not None


_warned: set[Path] = set()  # said once per directory and process: the archiver asks every round


def _warn(path: Path, message: str, *args: object) -> None:
    if path not in _warned:
        _warned.add(path)
        log.warning(message, path, *args)


def _read(path: Path) -> str | None:
    text = path.read_text(encoding="ascii", errors="replace").strip()
    if not valid(text):
        _warn(path, "%s does not hold a drkit history id: pieces archived now record none")
        return None
    _warned.discard(path)
    return text


def _create(aof_dir: Path, path: Path) -> None:
    """A new id, on disk (fsynced) before it is linked into place: a crash never leaves an empty one."""
    tmp = aof_dir / f".{HISTORY_FILE}.{uuid.uuid4().hex}"
    tmp.write_text(uuid.uuid4().hex[:12] + "\n", encoding="ascii")
    try:
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if path.exists() and path.stat().st_size == 0:
            # an empty one: a crash before its bytes reached the disk; two drkits finding it at once
            # may each read its own id for one round (the next reads the last), never a mix of bytes
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    except FileExistsError:
        pass  # another drkit linked one first: that one is the id
    finally:
        tmp.unlink(missing_ok=True)
    _sync_dir(aof_dir)


def history_id(aof_dir: Path) -> str | None:
    """The history id of ``aof_dir``, written there first when it has none. Two drkits starting at once
    agree: the id is written under a temp name and linked into place only if no other is there yet.
    None (with a warning: pieces then record no id, as an older drkit's) when the directory is not
    writable, or not an AOF directory (the caller's reading it says so)."""
    path = aof_dir / HISTORY_FILE
    if not aof_dir.is_dir() or not any(aof_dir.glob("*" + MANIFEST_SUFFIX)):
        return None  # written into a Redis AOF directory only
    try:
        if not path.exists() or path.stat().st_size == 0:
            _create(aof_dir, path)
        return _read(path)
    except OSError as exc:
        _warn(path, "cannot read or write %s (%s): pieces archived now record no history id", exc.strerror or exc)
        return None


def _sync_dir(aof_dir: Path) -> None:
    fd = os.open(aof_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def restored(aof_dir: Path) -> None:
    """A directory a restore writes is a new history: an id left there by the server it replaces goes,
    BEFORE the restore writes its first file (the directory fsynced, so a crash does not bring it back):
    an archiver reading the directory meanwhile must never record restored files under the old id. One
    reading it after this writes a new id, the restored files' history."""
    path = aof_dir / HISTORY_FILE
    if path.exists() or path.is_symlink():
        path.unlink()
        _sync_dir(aof_dir)


def split(pieces: list[Piece]) -> dict[str | None, list[Piece]]:
    """The pieces of one group key (base name and second) by history (module doc)."""
    by_name: dict[str, set[str]] = {}
    for p in pieces:
        if p.history:
            by_name.setdefault(p.source, set()).add(p.history)
    out: dict[str | None, list[Piece]] = {}
    for p in pieces:
        names = by_name.get(p.source, set())
        history = p.history or (next(iter(names)) if len(names) == 1 else None)
        out.setdefault(history, []).append(p)
    return {h: _own_first(part, h) for h, part in out.items()}


def _own_first(pieces: list[Piece], history: str | None) -> list[Piece]:
    """An id-less piece taken into ``history`` fills only what lies before that history's own pieces of
    its file: an archiver with an id stores its files from their start (``aof_round.archived_ends``), so
    id-less bytes from there on are either the same bytes again (an archive begun by an older drkit,
    archived again once upgraded) or another server's (a directory drkit cannot write its id to), which a
    planner taking the piece reaching furthest would stitch in before or after the history's own."""
    start: dict[str, int] = {}
    for p in pieces:
        if p.history is not None:
            start[p.file] = min(p.offset, start.get(p.file, p.offset))
    return [p for p in pieces if p.history is not None or p.offset < start.get(p.file, p.offset + 1)]


def _names(group: Group) -> set[str]:
    return {p.source for p in group.pieces if p.source}


def refuse_mixed(covering: Sequence[Group], when: str) -> None:
    """Refuse (exit 2) a point whose covering groups are of more than one history: which one is meant
    is the user's to say, by a name only one history holds."""
    histories: dict[str, set[str]] = {}
    for g in covering:
        if g.history is not None:
            histories.setdefault(g.history, set()).update(_names(g))
    if len(histories) <= 1:
        return
    listed = "; ".join(f"history {h}: {', '.join(sorted(n))}" for h, n in sorted(histories.items()))
    own = [sorted(n - set().union(*(m for k, m in histories.items() if k != h))) for h, n in histories.items()]
    if all(own):
        hint = "give --name with one of: " + ", ".join(sorted(n[0] for n in own))
    else:
        hint = "these servers' AOF were archived under one name: archive each under its own --name"
    raise UsageError(
        f"the AOF pieces covering {when} are of {len(histories)} different Redis servers ({listed}): "
        "a point in time is restored from one server's history",
        hint=hint,
    )


__all__ = ["HISTORY_FILE", "history_id", "refuse_mixed", "restored", "split", "valid"]
