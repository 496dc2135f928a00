"""Sparse files through a backup and a restore (readers ahead of the walk, and the walk reading itself):
the holes are not read (the kernel's ``rchar`` for the process), each file's blob ids equal those of
its dense twin (``cp --sparse=never``: the same bytes, every block written), and the restore is the
source byte for byte (sha256 and ``cmp``) and stays sparse (``st_blocks``)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from files_fixtures import archive_tree

from drkit.repository.reader import read_blob
from drkit.repository.repo import Repository
from drkit.repository.writer import BlobWriter
from drkit.sources.files import Selection, backup, filereads, sparse
from drkit.sources.files.backup import Archiver
from drkit.sources.files.diff import load_tree
from drkit.sources.files.ops import BackupRequest, backup_files, restore_files
from drkit.sources.files.tree import Node

MiB = 1 << 20
FILES = {  # name: size, data extents (offset, length)
    "hole-at-start": (40 * MiB, [(39 * MiB, MiB)]),
    "hole-in-middle": (40 * MiB, [(0, 300_000), (38 * MiB, 2 * MiB)]),
    "hole-at-end": (40 * MiB, [(0, MiB + 3)]),
    "all-hole": (40 * MiB, []),
    "small-holes": (6 * MiB, [(off, 5000) for off in range(0, 6 * MiB, 40_000)]),
    "data-past-large-hole": (128 * MiB, [(0, 4096), (127 * MiB + 11, 9000)]),
    "small-file": (3 * MiB, [(MiB, 100)]),  # read whole (filereads.SMALL_FILE)
}
SIZE = sum(size for size, _ in FILES.values())


def _make(src: Path) -> None:
    src.mkdir()
    for name, (size, data) in FILES.items():
        with open(src / name, "wb") as f:
            f.truncate(size)
            for off, length in data:
                f.seek(off)
                f.write(os.urandom(length))


def _rchar() -> int:
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


def _files(repo: Repository, tree: str) -> dict[str, Node]:
    (top,) = load_tree(repo, tree)
    assert top.subtree is not None
    return {n.name: n for n in load_tree(repo, top.subtree)}


def _sha256(path: Path) -> str:
    return subprocess.run(["sha256sum", str(path)], capture_output=True, check=True, text=True).stdout.split()[0]


@pytest.mark.parametrize("readers", [0, 2], ids=["walk-reads", "readers"])
def test_holes_not_read_and_ids_equal_the_dense_twins(repo: Repository, tmp_path: Path, readers: int) -> None:
    src, dense = tmp_path / "src", tmp_path / "dense"
    _make(src)
    dense.mkdir()
    for name in FILES:
        subprocess.run(["cp", "--sparse=never", str(src / name), str(dense / name)], check=True)
        assert os.stat(src / name).st_blocks < os.stat(dense / name).st_blocks, name
    before = _rchar()
    archiver, tree = archive_tree(repo, src, readers=readers)
    read = _rchar() - before
    assert archiver.warnings == []
    allocated = sum(os.stat(src / name).st_blocks * 512 for name in FILES)
    assert read < allocated + 64 * MiB, (read, allocated, SIZE)  # before: all of SIZE (~300 MiB)
    _, dense_tree = archive_tree(repo, dense, readers=readers)
    got, want = _files(repo, tree), _files(repo, dense_tree)
    assert {n: (got[n].size, got[n].content) for n in FILES} == {n: (want[n].size, want[n].content) for n in FILES}


def test_restore_is_byte_identical_and_sparse(repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    _make(src)
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    restore_files(repo, snap, str(tmp_path / "out"), Selection())
    for name, (size, _) in FILES.items():
        a, b = src / name, tmp_path / "out" / "src" / name
        assert os.stat(b).st_size == size
        assert _sha256(a) == _sha256(b), name
        subprocess.run(["cmp", str(a), str(b)], check=True)
        if name != "small-holes":  # its holes, under 64 KiB, are written as zeros (docs/files.md, "Sparse files")
            assert os.stat(b).st_blocks <= os.stat(a).st_blocks + 64 * 1024 // 512, name


@pytest.mark.parametrize("readers", [0, 2], ids=["walk-reads", "readers"])
def test_data_written_into_a_hole_during_the_read(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, readers: int
) -> None:
    """Written ahead of the read, after its first chunk: the snapshot holds the new data (the file system
    is asked as the read goes), the backup warns that the file changed, the restore equals the file."""
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "image", "wb") as f:
        f.truncate(64 * MiB)
        f.write(os.urandom(MiB))
    real = sparse.file_chunks

    def changing(*args: Any) -> Iterator[tuple[bytes, bytes]]:
        chunks = real(*args)
        yield next(chunks)
        with open(src / "image", "r+b") as f:
            f.seek(40 * MiB + 3)
            f.write(os.urandom(200_000))
        yield from chunks

    monkeypatch.setattr(filereads, "file_chunks", changing)
    monkeypatch.setattr(backup, "file_chunks", changing)
    with BlobWriter(repo=repo) as writer:
        archiver = Archiver(repo=repo, writer=writer, readers=readers)
        try:
            tree = archiver.root([str(src)], None)
        finally:
            archiver.close()
        writer.flush()
    assert archiver.warnings == [f"{src / 'image'}: file changed while being read; the snapshot holds what was read"]
    node = _files(repo, tree)["image"]
    out = tmp_path / "out"
    out.mkdir()
    with open(out / "image", "wb") as f:
        for blob in node.content:
            f.write(read_blob(repo, bytes.fromhex(blob)))
    subprocess.run(["cmp", str(src / "image"), str(out / "image")], check=True)
