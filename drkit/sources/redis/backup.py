"""Redis backups into the repository: a remote RDB (one stream snapshot), a host-local AOF
directory (one bundle snapshot: manifest + base + INCR files), and continuous archiving of AOF
growth as ``redis_aof`` segment records (packs, then index, then the record)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ...core import clock
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ...repository.streams import BundleWriter, SourceRef, backup_stream, store_refs
from ...repository.writer import BlobWriter
from .aof import AofFile, AofState, LimitedReader, describe, iter_state_files, read_state
from .aof_tail import complete_end
from .conn import RedisTarget
from .errors import RedisSourceError
from .kinds import ARCHIVE_KIND
from .rdb import RdbTransfer

ATTEMPTS = 5
FSYNC_SLACK = 2.0  # appendfsync everysec: writes reach the file within about a second

Progress = Callable[[int], None] | None


def backup_rdb(
    repo: Repository,
    target: RedisTarget,
    name: str,
    tags: list[str],
    progress: Progress = None,
    *,
    diskless: bool = True,
) -> Snapshot:
    """A consistent RDB over the replication protocol, streamed into one snapshot. ``diskless``
    announces ``capa eof``, so a primary with ``repl-diskless-sync yes`` streams the RDB while it
    produces it instead of writing it to its disk first. The snapshot's time is read before ``SYNC``:
    Redis forks for the RDB after it, and the payload (read later) holds the state of that fork."""
    started = clock.utcnow().isoformat()
    with RdbTransfer(target, diskless=diskless) as transfer:
        reader = transfer.reader
        assert reader is not None
        meta: dict[str, Any] = {"mode": "rdb", "url": target.display, **transfer.facts}
        meta["keys"] = sum(meta["keys_per_db"].values())
        source = SourceRef("redis", name, tags, meta)

        def finish() -> None:  # runs before the snapshot is written: veto or record the size
            transfer.check_complete()
            meta["rdb_size"] = reader.read_bytes
            meta["rdb_transfer"] = "diskless" if reader.eof_mark else "disk"

        return backup_stream(
            repo,
            source,
            reader,  # type: ignore[arg-type]
            before_commit=finish,
            progress=progress,
            started=started,
        )


def _add_files(bundle: BundleWriter, aof_dir: Path, state: AofState) -> dict[str, Any]:
    stamps: dict[str, Any] = {}
    for f in iter_state_files(state):
        reader = LimitedReader(aof_dir / f.name, f.size)
        try:
            bundle.add(f.name, reader)  # type: ignore[arg-type]
        finally:
            reader.close()
        if reader.left:
            raise FileNotFoundError(f.name)  # shrank: rewritten meanwhile
        stamps[f.name] = (reader.first_ts, reader.last_ts)
    bundle.add(state.manifest_name, io.BytesIO(state.manifest))
    return stamps


def backup_aof_dir(
    repo: Repository, aof_dir: Path, name: str, tags: list[str], extra_meta: dict[str, Any] | None = None
) -> Snapshot:
    """The AOF directory as one bundle snapshot; retried when a rewrite replaced files meanwhile."""
    for _ in range(ATTEMPTS):
        # the sizes read now bound what the snapshot holds: its coverage ends here, however long the read takes
        read_at = clock.now()
        state = read_state(aof_dir)
        with BundleWriter(repo) as bundle:
            try:
                stamps = _add_files(bundle, aof_dir, state)
            except FileNotFoundError:
                continue
            if not state.same_layout(read_state(aof_dir)):
                continue
            meta = {
                **describe(state, stamps),
                **(extra_meta or {}),
                "covered_until": read_at - FSYNC_SLACK,
                "file_ts": stamps,
            }
            return bundle.commit(SourceRef("redis", name, tags, meta))
    raise RedisSourceError(
        f"{aof_dir}: the AOF was rewritten during each of {ATTEMPTS} attempts; no snapshot written",
        hint="retry when no BGREWRITEAOF is running",
    )


ArchiveKey = tuple[str, int, str]  # base, base mtime (whole seconds, as catalog groups), file


def archived_ends(repo: Repository, name: str) -> dict[ArchiveKey, int]:
    """(base, base mtime, file) → bytes already archived for source ``name``. The mtime tells an AOF
    directory started again (same file names, new base) from the one archived before."""
    ends: dict[ArchiveKey, int] = {}
    for _, doc in repo.manifests.find(ARCHIVE_KIND, lambda d: d.get("source_name") == name):
        key = (doc["base"], int(float(doc["base_mtime"])), doc["file"])
        ends[key] = max(ends.get(key, 0), doc["offset"] + doc["length"])
    return ends


def _archive_file(
    repo: Repository, aof_dir: Path, state: AofState, f: AofFile, offset: int, name: str
) -> dict[str, Any]:
    reader = LimitedReader(aof_dir / f.name, f.size - offset, offset)
    try:
        with BlobWriter(repo=repo) as writer:
            refs = writer.write_stream(reader)  # type: ignore[arg-type]
            lists = store_refs(writer, refs)
            writer.flush()
    finally:
        reader.close()
    length = sum(r.length for r in refs)
    assert state.base is not None
    doc = {
        "source_name": name,
        "base": state.base.name,
        "base_mtime": state.base_mtime,
        "file": f.name,
        "seq": f.seq,
        "type": f.type,
        "offset": offset,
        "length": length,
        "first_ts": reader.first_ts,
        "last_ts": reader.last_ts,
        "root": {"type": "stream", "lists": lists, "size": length},
    }
    return doc


def archive_once(
    repo: Repository,
    aof_dir: Path,
    name: str,
    ends: dict[ArchiveKey, int] | None = None,
    ts_enabled: bool | None = None,
) -> list[dict[str, Any]]:
    """Archive every new file and the growth of every INCR file since the last run.
    ``ends`` (updated in place) saves re-reading the records in a loop. ``ts_enabled`` (when the server was
    asked) says whether Redis annotated the bytes archived now: recorded, a point in time refuses to cut
    inside bytes archived with it False (``pitr_guard``)."""
    if ends is None:
        ends = archived_ends(repo, name)
    seen = clock.now()  # the sizes read now bound what is archived: the coverage ends here, not after the upload
    state = read_state(aof_dir)
    if state.base is None:
        raise RedisSourceError(f"{aof_dir}: the manifest names no base file")
    done: list[tuple[ArchiveKey, dict[str, Any]]] = []
    growing = state.incrs[-1].name if state.incrs else None  # the one file Redis appends to
    for f in iter_state_files(state):
        key = (state.base.name, int(state.base_mtime), f.name)
        start = ends.get(key, 0)
        if f.name == growing:  # never end a piece inside a command: the rest waits for the next round
            f = replace(f, size=complete_end(aof_dir / f.name, start, f.size))
        if f.size > start and (f.type == "i" or start == 0):
            done.append((key, _archive_file(repo, aof_dir, state, f, start, name)))
    # every segment is uploaded before the first record; a record's archived_at counts only once all the
    # records of its run are stored (catalog.aof_pieces): a run stopped or read between two records (a new
    # base stored, its INCR file not yet) must not claim the state up to `seen` with the writes left out
    run: dict[str, Any] = {"archived_at": seen - FSYNC_SLACK, "run": uuid.uuid4().hex, "run_records": len(done)}
    if ts_enabled is not None:
        run["ts_enabled"] = ts_enabled
    for key, doc in done:
        doc.update(run)
        repo.manifests.put(ARCHIVE_KIND, doc)
        ends[key] = doc["offset"] + doc["length"]
    return [doc for _, doc in done]
