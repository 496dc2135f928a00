"""Files smaller than ``WALK_READS_BELOW`` are read by the walk itself, never handed to a reader; larger
ones still go to the readers (streamed past ``SMALL_FILE``). The tree, with empty, tiny, threshold-sized,
large and hard-linked files and files rewritten while the backup runs, restores the same as the source
(rsync), and every file of the snapshot holds the bytes the backup read."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest
from files_fixtures import archive_tree
from treediff import rsync_diff

from drkit.repository.repo import Repository
from drkit.repository.snapshots import Snapshot
from drkit.sources.files import Selection, filereads, readahead
from drkit.sources.files.ops import ROOT_TYPE, SOURCE_KIND, restore_files

DEFAULT = readahead.WALK_READS_BELOW  # as imported: the autouse fixture of conftest.py sets 0 per test


def _tree(src: Path, below: int) -> dict[str, int]:
    """Directories of files around the threshold; returns each regular file's size by relative path."""
    rng = random.Random(16)
    sizes = (0, 1, 300, 5_000, below - 1, below, below + 1, 200_000)
    made: dict[str, int] = {}
    for d in range(12):
        sub = src / f"d{d:02}" / ("n" if d % 3 == 0 else "")
        sub.mkdir(parents=True, exist_ok=True)
        for i, size in enumerate(sizes):
            (sub / f"f{i}").write_bytes(rng.randbytes(size))
            made[os.path.relpath(sub / f"f{i}", src)] = size
    (src / "big").write_bytes(rng.randbytes(filereads.SMALL_FILE + 70_000))  # streamed by a reader
    made["big"] = filereads.SMALL_FILE + 70_000
    os.link(src / "d01" / "f3", src / "d01" / "hard")  # the first name is read (by the walk: small)
    return made


def test_small_files_are_read_by_the_walk_larger_ones_by_readers(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readahead, "WALK_READS_BELOW", DEFAULT)
    src = tmp_path / "src"
    sizes = _tree(src, DEFAULT)
    handed: dict[str, bool] = {}
    real_take = readahead.Readers.take

    def noting_take(self: readahead.Readers, s: readahead.Scanned) -> object:
        handed[os.path.relpath(s.path, src)] = s.read is not None
        return real_take(self, s)

    monkeypatch.setattr(readahead.Readers, "take", noting_take)
    archiver, tree = archive_tree(repo, src, readers=2)
    assert archiver.warnings == []
    assert archiver.stats.files_new == len(sizes)
    assert {p: h for p, h in handed.items() if h != (sizes[p] >= DEFAULT)} == {}
    assert set(handed) == set(sizes)  # every file read was taken through the readers' door
    assert archiver.walk_reads == sum(1 for size in sizes.values() if size < DEFAULT)
    _restores_the_same(repo, tree, src, tmp_path / "out")


def test_files_rewritten_during_the_backup_hold_what_was_read(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the walk takes each file (``on_read``), the next one in its directory is rewritten with other
    bytes of the same size, or grown across the threshold. Whichever thread read it and whenever, the
    restored file holds one of the versions it had (sha256 of each, not drkit's metadata)."""
    monkeypatch.setattr(readahead, "WALK_READS_BELOW", DEFAULT)
    src = tmp_path / "src"
    _tree(src, DEFAULT)
    inode = {p: p.stat().st_ino for p in src.rglob("*") if p.is_file()}  # a hard link's names share versions
    versions = {i: {_sha(p)} for p, i in inode.items()}
    rng = random.Random(3)

    def rewrite_next(path: str, how: str) -> None:
        p = Path(path)
        nxt = p.with_name(f"f{int(p.name[1:]) + 1}") if p.name[1:].isdigit() else None
        if nxt is not None and nxt.exists():
            size = nxt.stat().st_size
            nxt.write_bytes(rng.randbytes(size + (DEFAULT if size < DEFAULT and rng.random() < 0.3 else 0)))
            versions[inode[nxt]].add(_sha(nxt))

    archiver, tree = archive_tree(repo, src, readers=2, on_read=rewrite_next)
    assert [w for w in archiver.warnings if "changed while being read" not in w] == []
    out = tmp_path / "out"
    restore_files(repo, _snapshot(src, tree), str(out), Selection())
    restored = {src / p.relative_to(out / src.name): _sha(p) for p in (out / src.name).rglob("*") if p.is_file()}
    assert set(restored) == set(inode)
    assert {p: h for p, h in restored.items() if h not in versions[inode[p]]} == {}
    assert sum(len(v) > 1 for v in versions.values()) >= 12 * 6  # the rewrites did happen


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _snapshot(src: Path, tree: str) -> Snapshot:
    return Snapshot(source_kind=SOURCE_KIND, source_name=str(src), root={"type": ROOT_TYPE, "tree": tree})


def _restores_the_same(repo: Repository, tree: str, src: Path, out: Path) -> None:
    restore_files(repo, _snapshot(src, tree), str(out), Selection())
    assert rsync_diff(src, out / src.name) == []
