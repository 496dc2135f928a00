"""Helpers for the files-source tests: small chunks and a real tree with every kind of entry."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from drkit.pipeline import ChunkerParams
from drkit.repository.repo import Repository
from drkit.repository.writer import BlobWriter
from drkit.sources.files.backup import Archiver

SMALL_CHUNKS = ChunkerParams(min_size=16 << 10, avg_size=64 << 10, max_size=256 << 10, seed=12345)
MTIME_NS = 1_700_000_000_123_456_789


def make_tree(root: Path, sparse_size: int = 64 << 20) -> Path:
    """src/ with files, a symlink, a hard link, an empty dir, unicode names, a 0-byte file and a
    sparse file of ``sparse_size`` bytes with a few written regions."""
    src = root / "src"
    (src / "docs" / "deep" / "er").mkdir(parents=True)
    (src / "empty").mkdir()
    (src / "docs" / "a.txt").write_text("alpha\n" * 1000)
    (src / "docs" / "deep" / "er" / "b.bin").write_bytes(os.urandom(300_000))
    (src / "ünïcødé ✓.txt").write_text("unicode name\n")
    (src / "zero").write_bytes(b"")
    (src / "link").symlink_to("docs/a.txt")
    (src / "dangling").symlink_to("../nowhere")
    os.link(src / "docs" / "a.txt", src / "hard")
    with open(src / "sparse", "wb") as f:
        f.truncate(sparse_size)
        for off in (0, sparse_size // 3, sparse_size - 100):
            f.seek(off)
            f.write(b"region at %d\n" % off)
    os.chmod(src / "docs" / "a.txt", 0o640)
    os.chmod(src / "empty", 0o711)
    for p in (src / "docs" / "a.txt", src / "zero", src / "empty", src / "docs" / "deep"):
        os.utime(p, ns=(MTIME_NS, MTIME_NS))
    os.utime(src / "link", ns=(MTIME_NS, MTIME_NS), follow_symlinks=False)
    return src


def archive_tree(repo: Repository, src: Path, **options: Any) -> tuple[Archiver, str]:
    """Back up the tree ``src`` through an ``Archiver`` (``options``: readers, on_read, options, ...)
    with a writer of its own, flushed: the archiver (its warnings, its state) and the root tree's id."""
    with BlobWriter(repo=repo) as writer:
        archiver = Archiver(repo=repo, writer=writer, **options)
        try:
            tree = archiver.root([str(src)], None)
        finally:
            archiver.close()
        writer.flush()
    return archiver, tree
