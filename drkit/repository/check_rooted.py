"""Checks of the documents that hold content besides snapshots (``ROOTED_KINDS``: archived Redis AOF
segments): each must decrypt and every blob it references must be indexed (structure); with
``read_data`` its content is read back through the normal reader (every blob authenticated,
decompressed and hashed back to its id) and must total its recorded size. Damage is reported with
the segment it belongs to (source, file, byte range), which a pack id alone does not tell."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from ..core.errors import DrkitError, IntegrityError, MissingBlob
from .references import ROOTED_KINDS, root_blobs
from .repo import Repository
from .runs import iter_blobs
from .streams import iter_stream_ids

Subset = tuple[str, float | tuple[int, int]] | None


def select_names(names: list[str], subset: Subset) -> list[str]:
    """The part of ``names`` a ``--read-data-subset`` selects: a random N %, or group n of m by a
    hash of the name (so the m groups partition the names whatever they look like)."""
    if subset is None:
        return names
    kind, value = subset
    if kind == "percent":
        assert isinstance(value, float)
        return random.sample(names, max(1, round(len(names) * value / 100))) if names else []
    assert isinstance(value, tuple)
    n, m = value
    return [x for x in names if int.from_bytes(hashlib.sha256(x.encode()).digest()[:4], "big") % m == n - 1]


def describe(kind: str, doc_id: str, doc: dict[str, Any]) -> str:
    """``AOF segment appendonly.aof.1.incr.aof bytes 0-812 of source cache (redis_aof 1a2b3c4d)``."""
    if kind == "redis_aof" and "file" in doc:
        start = int(doc.get("offset", 0))
        end = start + int(doc.get("length", 0))
        return f"AOF segment {doc['file']} bytes {start}-{end} of source {doc.get('source_name')} ({kind} {doc_id[:8]})"
    return f"{kind} {doc_id[:8]}"


def count_unindexed(repo: Repository, blobs: Callable[[], Iterator[bytes]]) -> int:
    """Blobs not in the index; index objects written since the index was loaded are read first."""

    def count() -> int:
        return sum(1 for blob_id in blobs() if blob_id not in repo.index)

    try:
        missing = count()
    except MissingBlob:
        if not repo.load_new_indexes():
            raise
        return count()
    if missing and repo.load_new_indexes():
        return count()
    return missing


def _read_content(repo: Repository, root: dict[str, Any]) -> int:
    total = sum(len(b) for b in iter_blobs(repo, iter_stream_ids(repo, root)))
    if total != root.get("size", total):
        raise IntegrityError(f"content is {total} bytes, the record says {root['size']}")
    return total


def check_rooted(repo: Repository, *, read_data: bool, subset: Subset) -> tuple[list[str], int, int]:
    """(errors, documents checked, documents whose content was read)."""
    errors: list[str] = []
    checked = read = 0
    for kind in sorted(ROOTED_KINDS):
        ids = repo.manifests.ids(kind)
        chosen = set(select_names(ids, subset)) if read_data else set()
        for doc_id in ids:
            where = f"{kind} {doc_id[:8]}"
            try:
                doc = repo.manifests.get_if_present(kind, doc_id)
                if doc is None:
                    continue  # removed by a concurrent forget since the listing
                where = describe(kind, doc_id, doc)
                missing = count_unindexed(repo, partial(root_blobs, repo, doc["root"], where))
                checked += 1
                if missing:
                    errors.append(f"{where}: {missing} referenced blobs are not indexed")
                elif doc_id in chosen:
                    _read_content(repo, doc["root"])
                    read += 1
            except DrkitError as exc:
                errors.append(f"{where}: {exc.message}")
    return errors, checked, read
