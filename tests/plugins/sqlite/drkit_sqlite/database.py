"""Back up, restore and inspect an SQLite database file.

A backup copies the database with SQLite's online backup API (``Connection.backup``: a consistent
image while other connections keep writing) into memory and stores that image as one stream
snapshot of kind ``sqlite``. Holding the image in memory keeps this example short; a plugin for large
databases would back up into a private temporary file instead. A restore writes the image into a
new file beside the target, proves it with ``PRAGMA integrity_check`` and only then links it into
place: an existing file is never overwritten, and a failed restore leaves nothing behind."""

from __future__ import annotations

import io
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from drkit.core import clock
from drkit.core.errors import IntegrityError, UsageError
from drkit.repository import snapshots
from drkit.repository.repo import Repository
from drkit.repository.snapshots import Snapshot
from drkit.repository.streams import SourceRef, backup_stream, restore_stream

KIND = "sqlite"
CANARY_TABLE = "drkit_canary"


@contextmanager
def connect(path: Path, *, read_only: bool = True, immutable: bool = False) -> Iterator[sqlite3.Connection]:
    """A connection to an existing database file; SQLite's errors become one usage error.
    ``immutable``: a file nothing else writes (a restored one), read without locks, so no ``-shm`` or
    ``-wal`` file is created beside it even when its image is in WAL mode."""
    if not path.is_file():
        raise UsageError(f"sqlite database {path} does not exist (or is not a file)")
    uri = path.resolve().as_uri() + ("?mode=ro" if read_only else "?mode=rw") + ("&immutable=1" if immutable else "")
    try:
        with closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
            yield conn
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"sqlite database {path}: {exc}") from None


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    tables = conn.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()
    return {name: int(conn.execute(f"SELECT COUNT(*) FROM {quote(name)}").fetchone()[0]) for (name,) in tables}


def source_row_counts(path: Path) -> dict[str, int]:
    with connect(path) as conn:
        return row_counts(conn)


def write_canary(path: Path, job: str) -> None:
    """Upsert the job's canary row (its table created on first use) with the current UTC time."""
    with connect(path, read_only=False) as conn, conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {CANARY_TABLE} (job TEXT PRIMARY KEY, written_at TEXT NOT NULL)")
        conn.execute(f"INSERT OR REPLACE INTO {CANARY_TABLE} VALUES (?, ?)", (job, clock.utcnow().isoformat()))


def read_canary(conn: sqlite3.Connection, job: str) -> datetime | None:
    """The job's canary time in a (restored) database; None if it has none."""
    if conn.execute("SELECT 1 FROM sqlite_schema WHERE name = ?", (CANARY_TABLE,)).fetchone() is None:
        return None
    row = conn.execute(f"SELECT written_at FROM {CANARY_TABLE} WHERE job = ?", (job,)).fetchone()
    return datetime.fromisoformat(row[0]) if row else None


def integrity_problem(conn: sqlite3.Connection) -> str | None:
    """None when ``PRAGMA integrity_check`` answers ok, else its first complaint."""
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    return None if rows == [("ok",)] else str(rows[0][0])


def backup_database(repo: Repository, path: Path, *, name: str, tags: list[str]) -> Snapshot:
    """One snapshot of the database at ``path`` (under the repository's backup lock)."""
    started = clock.utcnow().isoformat()
    with connect(path) as source, closing(sqlite3.connect(":memory:")) as image:
        source.backup(image)
        meta: dict[str, Any] = {
            "database": str(path.resolve()),
            "sqlite_version": sqlite3.sqlite_version,
            "page_size": image.execute("PRAGMA page_size").fetchone()[0],
        }
        data = image.serialize()
    with repo.lock(purpose="backup"):
        return backup_stream(repo, SourceRef(KIND, name, list(tags), meta), io.BytesIO(data), started=started)


def find_backup(repo: Repository, ref: str, name: str | None = None) -> Snapshot:
    """Snapshot ``ref`` (an id prefix, or ``latest``: the newest sqlite backup, of source ``name`` if given)."""
    snap = snapshots.find(repo.manifests, ref, source_kind=KIND, source_name=name if ref == "latest" else None)
    if snap.source_kind != KIND or snap.root.get("type") != "stream":
        raise UsageError(f"snapshot {snap.short_id} is not an sqlite backup")
    return snap


def restore_database(repo: Repository, snap: Snapshot, target: Path) -> int:
    """Write ``snap`` to the new file ``target``, checked before it appears; returns its size."""
    if target.exists() or target.is_symlink():
        raise UsageError(f"{target} exists: a restore never overwrites a file", hint="name a new file")
    if not target.parent.is_dir():
        raise UsageError(f"{target.parent} is not a directory")
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            written = restore_stream(repo, snap, out)
            out.flush()
            os.fsync(out.fileno())
        with connect(Path(partial), immutable=True) as conn:
            problem = integrity_problem(conn)
        if problem is not None:
            raise IntegrityError(f"snapshot {snap.short_id}: the restored database fails integrity_check: {problem}")
        try:
            os.link(partial, target)  # not rename: a file created at target meanwhile is never replaced
        except FileExistsError:
            raise UsageError(f"{target} exists: a restore never overwrites a file") from None
    finally:
        os.unlink(partial)
    return written
