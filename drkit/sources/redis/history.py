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
directory (a server set up again, a restore) is a new history, and so is a copy of one (the id file
records where it was written: ``history_dir``).

**Pieces without an id** (an older drkit's, or read from a directory drkit cannot write to) belong to
the history their source name recorded in their group, if just one (an archive begun by an older drkit
goes on as one). Never to a history only other names recorded: that may be another server's, whose
bytes would be stitched to theirs. Of a file, they fill only what lies before that history's own first
piece (``_own_first``): an archiver with an id stores its files from their start; of a file the
history has no piece of, nothing (another server's). Pieces with no id and
no such name are a group of their own,
restored as an older drkit did, so an old repository restores as before. The archiver goes on only
from pieces of its own history (``aof_round.archived_ends``): pieces without an id count only for an
archiver that has none either, never for one with an id (they may be another server's bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...core.errors import UsageError
from .history_dir import HISTORY_FILE, RestoreInProgress, history_id, reading, restoring, valid

if TYPE_CHECKING:
    from .pitr import Group, Piece


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
    planner taking the piece reaching furthest would stitch in before or after the history's own. Of a
    file the history has no piece of, none: the upgraded archiver stores every file of its group from
    the start in its first round, so such a file is another server's (a copy of the directory drkit
    cannot write its id to: its writes stitched after the history's base)."""
    if history is None:
        return pieces
    start: dict[str, int] = {}
    for p in pieces:
        if p.history is not None:
            start[p.file] = min(p.offset, start.get(p.file, p.offset))
    return [p for p in pieces if p.history is not None or p.offset < start.get(p.file, 0)]


def only(groups: list[Group], wanted: str | None) -> list[Group]:
    """The groups of history ``wanted`` (``--history``; None: all); a clear refusal when it has none."""
    if wanted is None:
        return groups
    mine = [g for g in groups if g.history == wanted]
    if not mine:
        known = ", ".join(sorted({g.history for g in groups if g.history})) or "none"
        raise UsageError(
            f"no archived AOF of history {wanted} (histories here: {known})",
            hint="`drkit redis windows` lists each AOF group's history",
        )
    return mine


def _names(group: Group) -> set[str]:
    return {p.source for p in group.pieces if p.source}


def refuse_mixed(covering: Sequence[Group], when: str) -> None:
    """Refuse (exit 2) a point whose covering groups are of more than one history: which one is meant
    is the user's to say, by a name only one history holds, or by the history (``--history``)."""
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
    else:  # one name (or a copied AOF directory, a moved one: history_dir): only the history tells them apart
        hint = (
            "give --history with one of: " + ", ".join(sorted(histories)) + " (these servers' AOF were "
            "archived under one name: archive each under its own --name)"
        )
    raise UsageError(
        f"the AOF pieces covering {when} are of {len(histories)} different Redis servers ({listed}): "
        "a point in time is restored from one server's history",
        hint=hint,
    )


__all__ = [
    "HISTORY_FILE",
    "RestoreInProgress",
    "history_id",
    "only",
    "reading",
    "refuse_mixed",
    "restoring",
    "split",
    "valid",
]
