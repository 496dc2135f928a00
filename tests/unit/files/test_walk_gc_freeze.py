"""The walk keeps the objects made before it out of the garbage collector's passes (``gc.freeze``) and
gives them back when it ends, normally or by an error: nothing stays frozen for the rest of a process
(the daemon runs many backups)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from files_fixtures import archive_tree

from drkit.repository.repo import Repository
from drkit.sources.files import backup


def test_the_walk_freezes_and_unfreezes(repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_bytes(b"x" * 100)
    frozen: list[int] = []
    real_use = backup.Archiver._use

    def noting_use(self: backup.Archiver, s: backup.Scanned) -> object:
        frozen.append(gc.get_freeze_count())
        return real_use(self, s)

    monkeypatch.setattr(backup.Archiver, "_use", noting_use)
    archiver, _ = archive_tree(repo, src, readers=2)
    assert archiver.warnings == []
    assert frozen and min(frozen) > 0
    assert gc.get_freeze_count() == 0


def test_a_failed_walk_unfreezes(repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"y")

    def failing(path: str) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        archive_tree(repo, src, readers=0, on_file=failing)
    assert gc.get_freeze_count() == 0
