"""Redis backups into the repository: a remote RDB (one stream snapshot) and a host-local AOF
directory (one bundle snapshot: manifest + base + INCR files). Continuous archiving of AOF growth is
``aof_round``."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...core import clock
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ...repository.streams import BundleWriter, SourceRef, backup_stream
from .aof import AofState, LimitedReader, describe, iter_state_files, read_state
from .conn import RedisTarget
from .errors import RedisSourceError
from .history import reading
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


def _bundle(repo: Repository, aof_dir: Path, ref: SourceRef, history_of: str | None) -> Snapshot | None:
    """The snapshot; None when a rewrite replaced files during each attempt."""
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
                **ref.meta,
                "covered_until": read_at - FSYNC_SLACK,
                "file_ts": stamps,
            }
            if history_of is not None:
                meta["history"] = history_of  # the server history it was read from (``history``)
            return bundle.commit(SourceRef(ref.kind, ref.name, ref.tags, meta))
    return None


def backup_aof_dir(
    repo: Repository, aof_dir: Path, name: str, tags: list[str], extra_meta: dict[str, Any] | None = None
) -> Snapshot:
    """The AOF directory as one bundle snapshot; retried when a rewrite replaced files meanwhile."""
    with reading(aof_dir) as history_of:  # held: no restore writes the directory while it is read
        snap = _bundle(repo, aof_dir, SourceRef("redis", name, tags, extra_meta or {}), history_of)
    if snap is not None:
        return snap
    raise RedisSourceError(
        f"{aof_dir}: the AOF was rewritten during each of {ATTEMPTS} attempts; no snapshot written",
        hint="retry when no BGREWRITEAOF is running",
    )
