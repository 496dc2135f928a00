"""Repository checks.

Structure (always): every index object decrypts; every indexed pack exists with the indexed size;
every snapshot decrypts and every blob it references is indexed. Packs no index names are
reported as unreferenced (left by an interrupted backup; prune removes them), not as errors. A pack
pending deletion (marked by a prune, FORMAT.md §13) may go while the check runs: its absence is no
error, and no snapshot needs it unless a later prune finds so and keeps it.

Archived AOF segments (``check_rooted``): each record must decrypt and its blobs be indexed; with
``read_data`` their content is read back and damage is named by segment.

Read data (``read_data``): each selected pack is downloaded whole; its id must equal the BLAKE3
of its bytes, its header must decrypt and agree with the index, and every blob must decrypt,
decompress and hash back to its id.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from storage_backends import NotFound

from ..core import clock
from ..core.errors import DrkitError, UsageError
from . import snapshots
from .caps import read_capped
from .check_rooted import check_rooted, count_unindexed
from .format import DATA_PREFIX, MANIFESTS_PREFIX, content_id, id_from_key, pack_key
from .keycheck import key_problems
from .pack import BLOB_TREE, read_entries
from .reader import open_blob, read_blob
from .references import ROOT_WALKERS, referenced_blobs
from .repo import Repository
from .reserve import Reserve
from .reserve import find as find_reserve
from .storage_errors import storage_errors
from .temps import stale_temps


@dataclass(kw_only=True)
class CheckReport:
    errors: list[str] = field(default_factory=list)
    unreferenced_packs: list[str] = field(default_factory=list)
    packs_checked: int = 0
    blobs_checked: int = 0
    snapshots_checked: int = 0
    documents_checked: int = 0  # rooted documents (archived AOF segments)
    segments_read: int = 0  # archived AOF segments and WAL files read back (read_data)
    stale_temps: int = 0  # temp objects of killed writes (temps.py): not errors, prune removes them
    reserve: Reserve | None = None  # the space reserve (reserve.py); None: the repository has none

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_subset(spec: str | None) -> tuple[str, float | tuple[int, int]] | None:
    """``"10%"`` → a random tenth of the packs; ``"2/5"`` → the second of five fixed groups;
    ``"today/7"`` → the group of seven the day (UTC) picks, so a daily check reads every pack once
    a week."""
    if not spec:
        return None
    try:
        if spec.endswith("%"):
            pct = float(spec[:-1])
            if 0 < pct <= 100:
                return ("percent", pct)
        else:
            first, groups = spec.split("/")
            m = int(groups)
            n = int(clock.now() // 86400) % m + 1 if first == "today" and m >= 1 else int(first)
            if 1 <= n <= m:
                return ("group", (n, m))
    except ValueError:
        pass
    raise UsageError(f"invalid --read-data-subset {spec!r}: use N%, n/m or today/m")


def _select(pack_ids: list[str], subset: tuple[str, float | tuple[int, int]] | None) -> list[str]:
    if subset is None:
        return pack_ids
    kind, value = subset
    if kind == "percent":
        assert isinstance(value, float)
        count = max(1, round(len(pack_ids) * value / 100)) if pack_ids else 0
        return random.sample(pack_ids, count)
    assert isinstance(value, tuple)
    n, m = value
    return [p for p in pack_ids if int(p[:8], 16) % m == n - 1]


def check_repository(
    repo: Repository,
    *,
    read_data: bool = False,
    subset: str | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> CheckReport:
    """``progress``: bytes of packs read back (read_data), after ``on_total`` was told how many there are."""
    report = CheckReport()
    try:
        repo.load_index()
    except DrkitError as exc:
        report.errors.append(exc.message)
        return report
    report.errors.extend(f"index {i}: {why}" for i, why in sorted(repo.skipped_indexes.items()))
    _check_packs_exist(repo, report)
    report.stale_temps = len(stale_temps(repo.backend))
    with storage_errors():
        report.reserve = find_reserve(repo.backend)
    _check_snapshots(repo, report)
    problems, report.documents_checked, report.segments_read = check_rooted(
        repo, read_data=read_data, subset=parse_subset(subset)
    )
    report.errors.extend(problems)
    _check_documents(repo)
    report.errors.extend(f"{key}: {why}" for key, why in sorted(repo.manifests.skipped.items()))
    with storage_errors():
        report.errors.extend(key_problems(repo.backend, repo.master))
    if read_data:
        chosen = _select(sorted(repo.index.pack_sizes), parse_subset(subset))
        if on_total is not None:
            on_total(sum(repo.index.pack_sizes[p] for p in chosen))
        with ThreadPoolExecutor(2) as pool:
            for pack_id, (problems, blobs) in zip(chosen, pool.map(lambda p: _read_pack(repo, p), chosen), strict=True):
                report.errors.extend(problems)
                report.blobs_checked += blobs
                report.packs_checked += 1
                if progress is not None:
                    progress(repo.index.pack_sizes[pack_id])
    return report


def _check_packs_exist(repo: Repository, report: CheckReport) -> None:
    with storage_errors():
        stored = {id_from_key(i.key): i.size for i in repo.backend.list(DATA_PREFIX)}
    for pack_id, size in sorted(repo.index.pack_sizes.items()):
        if pack_id not in stored and pack_id in repo.index.excluded:
            continue  # pending deletion: a concurrent prune deleted it
        if pack_id not in stored:
            report.errors.append(f"pack {pack_id} is indexed but missing from the backend")
        elif stored[pack_id] != size:
            report.errors.append(f"pack {pack_id} has size {stored[pack_id]}, the index says {size}")
    report.unreferenced_packs = sorted(set(stored) - set(repo.index.pack_sizes))


def _check_snapshots(repo: Repository, report: CheckReport) -> None:
    for snap_id in repo.manifests.ids(snapshots.KIND):
        try:
            doc = repo.manifests.get_if_present(snapshots.KIND, snap_id)
            if doc is None:
                continue  # forgotten since the listing (forget runs alongside check)
            snap = snapshots.Snapshot.from_doc(snap_id, doc)
            missing = _unindexed(repo, snap)
        except DrkitError as exc:
            report.errors.append(f"snapshot {snap_id[:8]}: {exc.message}")
            continue
        report.snapshots_checked += 1
        if missing:
            report.errors.append(f"snapshot {snap_id[:8]}: {missing} referenced blobs are not indexed")


def _check_documents(repo: Repository) -> None:
    """Read every other document (pending marks, tombstones, drill results, ...): a junk or damaged one
    lands in ``repo.manifests.skipped``, which the report lists."""
    with storage_errors():
        keys = [i.key for i in repo.backend.list(MANIFESTS_PREFIX)]
    for key in keys:
        kind, _, doc_id = key[len(MANIFESTS_PREFIX) :].partition("/")
        try:
            repo.manifests.get_if_present(kind, doc_id)
        except DrkitError as exc:
            repo.manifests.skip(key, exc.message)


def _unindexed(repo: Repository, snap: snapshots.Snapshot) -> int:
    """How many blobs ``snap`` references that no index object lists. A snapshot written after the
    index was loaded (a backup that finished meanwhile) is counted again with the new index objects."""
    return count_unindexed(repo, lambda: referenced_blobs(repo, snap))


def _read_pack(repo: Repository, pack_id: str) -> tuple[list[str], int]:
    key = pack_key(pack_id)
    try:
        with storage_errors():
            try:  # no more than the index says: a pack replaced by a huge object is not read whole
                data = read_capped(repo.backend, key, repo.index.pack_sizes.get(pack_id, 0))
            except NotFound:
                if pack_id in repo.index.excluded:
                    return [], 0  # pending deletion, and deleted meanwhile
                raise
        if content_id(data) != pack_id:
            return [f"pack {pack_id}: content does not match its id (damaged pack {key})"], 0
        entries = read_entries(data, repo.cipher, pack_id)
        for e in entries:
            loc = repo.index.get(e.id)
            if loc is None or (loc.pack_id == pack_id and (loc.offset, loc.length) != (e.offset, e.length)):
                return [f"pack {pack_id}: header disagrees with the index"], 0
            open_blob(repo, e.id, data[e.offset : e.offset + e.length], key, e.raw_length)
        return [], len(entries)
    except DrkitError as exc:
        return [exc.message], 0


__all__ = ["BLOB_TREE", "ROOT_WALKERS", "CheckReport", "check_repository", "parse_subset", "read_blob"]
