"""What the repository holds for Redis: AOF pieces (from AOF snapshots, archived segment records and AOF
increments), RDB snapshots, and the recoverable window of each."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from functools import partial
from typing import Any, BinaryIO

from ...core.errors import UsageError
from ...core.printed import printable
from ...core.timespec import format_time
from ...repository import pointintime, snapshots
from ...repository.repo import Repository
from ...repository.runs import write_blobs
from ...repository.snapshots import Snapshot
from ...repository.streams import iter_stream_ids, restore_part
from . import aoflog
from .pitr import Piece, group_pieces, iso
from .segments import is_increment, segments


def redis_snapshots(repo: Repository, name: str | None = None) -> list[Snapshot]:
    return [s for s in snapshots.load_all(repo.manifests) if s.source_kind == "redis" and name in (None, s.source_name)]


def _write_root(repo: Repository, root: dict[str, Any], out: BinaryIO) -> int:
    return write_blobs(repo, iter_stream_ids(repo, root), out)


def _snapshot_pieces(repo: Repository, snap: Snapshot) -> list[Piece]:
    meta = snap.meta
    stamps = meta.get("file_ts", {})
    captured = float(meta.get("covered_until", 0))
    return [
        Piece(
            base=meta["base"],
            base_mtime=float(meta["base_mtime"]),
            file=f["name"],
            seq=f["seq"],
            type=f["type"],
            offset=0,
            length=f["size"],
            last_ts=(stamps.get(f["name"]) or [None, None])[1],
            captured=captured,
            fetch=partial(restore_part, repo, snap, f["name"]),
            history=meta.get("history"),
            source=snap.source_name,
        )
        for f in meta["files"]
    ]


def _increment_piece(repo: Repository, inc: aoflog.Increment, captured: float) -> Piece:
    """``inc`` as a point-in-time piece (``captured``: its round's capture time when that round is whole, else 0)."""
    return Piece(
        base=inc.base,
        base_mtime=float(inc.base_mtime),
        file=inc.file,
        seq=inc.seq,
        type="i",
        offset=inc.offset,
        length=inc.end - inc.offset,
        last_ts=inc.last_ts,
        captured=captured,
        fetch=partial(aoflog.fetch, aoflog.archive(repo), inc),
        ts_off=inc.ts_enabled is False,
        small=True,
        history=inc.history,
        source=inc.source,
    )


def aof_pieces(repo: Repository, name: str | None = None) -> list[Piece]:
    """The pieces of the AOF snapshots and of the archive, in both forms (``segments``): a record's bytes
    are its stream root's, an increment's its log object's (verified against its name when fetched)."""
    pieces: list[Piece] = []
    for snap in redis_snapshots(repo, name):
        if snap.meta.get("mode") == "aof" and snap.meta.get("base"):
            pieces += _snapshot_pieces(repo, snap)
    found = segments(repo, name)
    stored = Counter(d.get("run") for _, d in found)
    # a round's capture holds each file up to the end of its last piece of that file: a piece split off
    # before it (a large growth, ``aof_round``) claims no capture time of its own (``pitr_guard``)
    ends: dict[tuple[str, str], int] = {}
    for key, d in found:  # a record without a run (an older drkit's) is a capture of its own
        at = (d.get("run") or key, d["file"])
        ends[at] = max(ends.get(at, 0), d["offset"] + d["length"])
    for key, d in found:
        whole = d.get("run") is None or stored[d["run"]] >= int(d.get("run_records", 1))
        last = ends[d.get("run") or key, d["file"]] == d["offset"] + d["length"]
        captured = float(d["archived_at"]) if whole and last else 0.0  # a run not all stored proves no capture time
        if is_increment(key):
            pieces.append(_increment_piece(repo, aoflog.Increment.parse(key), captured))
            continue
        pieces.append(
            Piece(
                base=d["base"],
                base_mtime=float(d["base_mtime"]),
                file=d["file"],
                seq=d["seq"],
                type=d["type"],
                offset=d["offset"],
                length=d["length"],
                last_ts=d["last_ts"],
                captured=captured,
                fetch=partial(_write_root, repo, d["root"]),
                ts_off=d.get("ts_enabled") is False,
                history=d.get("history"),
                source=str(d.get("source_name", "")),
            )
        )
    return pieces


def _aware(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def snapshot_time(snap: Snapshot) -> datetime:
    return _aware(snap.time)


def rdb_at(repo: Repository, when: float, name: str | None = None) -> Snapshot:
    """The newest RDB snapshot that *ended* at or before ``when``: an RDB holds the state of the instant
    Redis forked for it, somewhere between the snapshot's start and end, so one still being taken at
    ``when`` may hold writes after it."""
    rdbs = [s for s in redis_snapshots(repo, name) if s.meta.get("mode") in ("rdb", "cluster")]
    names = ", ".join(sorted({printable(s.source_name) for s in rdbs}))
    snapshots.refuse_several_sources(rdbs, iso(when), f"give --name, one of: {names}")  # the newest: another's?
    found = pointintime.finished_by(rdbs, datetime.fromtimestamp(when, UTC))
    if found is None:
        raise UsageError(f"no Redis RDB snapshot ended at or before {iso(when)}")
    return found


def past_the_last_rdb(repo: Repository, chosen: Snapshot, when: float, *, accept: bool) -> str | None:
    """When ``chosen`` (``rdb_at``) is the newest RDB of its source and ended before ``when``, nothing in the
    repository reaches ``when`` (no AOF either: the caller looked first): refused (exit 2) unless ``accept``
    (``--accept-older``), as PostgreSQL refuses a recovery target past the end of its WAL; accepted, the note
    the restore reports. None when a later RDB exists (``when`` lies between two: the older is the nearest
    state the repository holds, said as the point reached)."""
    rdbs = [s for s in redis_snapshots(repo, chosen.source_name) if s.meta.get("mode") in ("rdb", "cluster")]
    if any(_aware(s.end_time or s.time).timestamp() >= when for s in rdbs):  # in a window `redis windows` prints
        return None
    start = snapshot_time(chosen)
    behind = f"{int(when - start.timestamp())} s before the time asked for"
    if accept:
        return f"after the newest RDB snapshot (taken {format_time(start)}): the state of an instant {behind}"
    asked, end = format_time(datetime.fromtimestamp(when, UTC)), format_time(_aware(chosen.end_time or chosen.time))
    raise UsageError(
        f"point in time {asked} is after the newest RDB snapshot ({chosen.short_id} of {chosen.source_name}, "
        f"taken {format_time(start)} to {end}) and no AOF in the repository reaches it: restoring it gives the "
        f"state of {format_time(start)}, {behind}",
        hint="--accept-older restores it anyway (the output names that instant); `drkit redis windows` lists "
        "what can be restored; `drkit redis aof-archive` keeps the writes after the last RDB",
    )


def _first_point(base_mtime: float) -> float:
    """The first point an AOF group restores to: its base may hold writes of the second it was written
    in, and a cut replays whole seconds (``pitr.aof_cut``)."""
    return float(int(base_mtime) + 1)


def windows(repo: Repository, name: str | None = None) -> list[dict[str, Any]]:
    """One row per Redis snapshot (an RDB is a point; an AOF snapshot covers from its base to its
    capture), plus one per archived AOF group (of one server history: two servers' groups of one base
    file name and second are two rows)."""
    rows: list[dict[str, Any]] = []
    for s in redis_snapshots(repo, name):
        if s.meta.get("mode") == "aof":
            end = max(float(s.meta.get("last_ts") or 0), float(s.meta.get("covered_until", 0)))
            rows.append(
                {
                    "id": s.short_id,
                    "name": s.source_name,
                    "kind": "aof",
                    "from": iso(_first_point(float(s.meta["base_mtime"]))),
                    "to": iso(end),
                }
            )
        else:
            # whole times (cut to seconds, they named an older RDB); a point in time restores this RDB from
            # its end on: it holds the instant Redis forked for it, between its start and its end
            at, until = format_time(snapshot_time(s)), format_time(_aware(s.end_time or s.time))
            rows.append(
                {"id": s.short_id, "name": s.source_name, "kind": s.meta.get("mode", "rdb"), "from": at, "to": until}
            )
    for g in group_pieces(aof_pieces(repo, name)):
        rows.append(
            {
                "id": "archive",
                "name": name or ",".join(sorted({p.source for p in g.pieces})),  # what --name can pick
                "kind": "aof+archive",
                "from": iso(_first_point(g.start)),
                "to": iso(g.end),
                "history": g.history,  # the server history (``history``); None: not recorded
            }
        )
    return rows
