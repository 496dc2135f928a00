"""WAL prefetch for point-in-time recovery: before the server starts, the archived segments it will
replay are fetched in parallel (one process, the repository already unlocked) into a spool directory
inside the restored data directory; ``restore_command`` copies from the spool and falls back to
``drkit pg wal-fetch`` for anything not there. Without it every segment costs a process start and a
key derivation (pgBackRest's async archive-get and WAL-G's prefetch solve the same problem)."""

from __future__ import annotations

import os
import shlex
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

from ...repository.repo import Repository
from .pitr import Target, parse_time
from .wal import fetch, parse_lsn, segment_name, segment_number

SPOOL_DIR = "drkit_wal_spool"
MAX_SEGMENTS_ENV = "DRKIT_WAL_PREFETCH_MAX"
DEFAULT_MAX_SEGMENTS = 256  # 4 GiB of 16 MiB segments; the rest is fetched one by one
WORKERS = 4
_SLACK = timedelta(seconds=60)  # commits just before a time target may sit in a segment archived later


def plan(
    archived: dict[str, datetime],
    start_lsn: int,
    timeline: int,
    seg_size: int,
    target: Target,
    streamed: frozenset[int] | set[int] = frozenset(),
) -> list[str]:
    """The contiguous archived segments from the base backup's start that recovery to ``target``
    will read (for a time target, up to the first one archived after it, plus slack), then the
    segment after them if a streamed partial of it is archived (segment numbers ``streamed``):
    ``fetch`` gives its WAL, and a restore whose restore_command reads only the spool (a drill in a
    container) reaches into the streamed tail too."""
    have = {segment_number(n, seg_size): when for n, when in archived.items()}
    limit = int(os.environ.get(MAX_SEGMENTS_ENV, DEFAULT_MAX_SEGMENTS))
    until = parse_time(target.value) + _SLACK if target.kind == "time" else None
    last_segno = parse_lsn(target.value) // seg_size if target.kind == "lsn" else None
    names: list[str] = []
    segno = start_lsn // seg_size
    while segno in have and len(names) < limit:
        names.append(segment_name(timeline, segno, seg_size))
        if (until is not None and have[segno] > until) or (last_segno is not None and segno >= last_segno):
            return names
        segno += 1
    if segno in streamed and segno not in have and len(names) < limit:
        names.append(segment_name(timeline, segno, seg_size))
    return names


def prefetch(repo: Repository, names: list[str], spool: Path) -> int:
    """Fetch ``names`` into ``spool`` in parallel; the bytes written."""
    spool.mkdir(mode=0o700, parents=True, exist_ok=True)
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="drkit-walprefetch") as pool:
        return sum(pool.map(lambda name: fetch(repo, name, spool / name), names))


def spooled_command(spool: Path, fallback: str) -> str:
    """restore_command: copy from the spool when the segment is there, else run ``fallback``. Any
    failure but 'not in the archive' (exit 1) exits 255: PostgreSQL takes an exit status of 1-125 for
    the end of the archive and ends recovery there (to 'latest' it would promote before WAL the
    archive holds, a damaged object or a storage outage, and the restore report success), while a
    status above 125 stops recovery with an error."""
    where = shlex.quote(str(spool))
    return (
        f"if [ -f {where}/%f ]; then cp {where}/%f %p || exit 255; "
        f"else {fallback}; rc=$?; [ $rc -le 1 ] || exit 255; exit $rc; fi"
    )
