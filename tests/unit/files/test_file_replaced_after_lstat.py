"""A file replaced (another inode renamed over it) after the walk ``lstat``ed it ahead and before it
was opened: the node stored holds the owner, mode and extended attributes of the file whose bytes
were read, not those of the file ``lstat`` saw (a restore would give the new bytes the old mode)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from files_fixtures import archive_tree

from drkit.repository.reader import read_blob
from drkit.repository.repo import Repository
from drkit.sources.files import backup, readahead, walkahead
from drkit.sources.files.diff import walk
from drkit.sources.files.walker import Where


@pytest.mark.parametrize("readers", [0, 2])
def test_a_file_replaced_after_its_lstat_keeps_the_metadata_of_the_bytes_read(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, readers: int
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "x").write_bytes(b"old, public")
    os.chmod(src / "x", 0o644)
    os.setxattr(src / "x", "user.kind", b"old")
    real_scan = readahead.scan
    new_inode: list[int] = []

    def scan_then_replace(where: Where, name: str, old: object, *rest: Any) -> readahead.Scanned:
        s = real_scan(where, name, old, *rest)  # type: ignore[arg-type]
        if name == "x":
            tmp = src / "x.new"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, b"new, private")
            os.close(fd)
            os.chmod(tmp, 0o600)
            new_inode.append(os.stat(tmp).st_ino)
            os.rename(tmp, src / "x")
        return s

    monkeypatch.setattr(backup, "scan", scan_then_replace)
    monkeypatch.setattr(walkahead, "scan", scan_then_replace)  # the entries after the top path
    archiver, tree = archive_tree(repo, src, readers=readers)
    (node,) = [n for p, n in walk(repo, tree) if p.endswith("/x")]
    assert b"".join(read_blob(repo, bytes.fromhex(c)) for c in node.content) == b"new, private"
    assert (node.mode, node.inode, node.xattrs) == (0o600, new_inode[0], {})
