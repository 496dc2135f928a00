"""A regular file replaced by a FIFO between its ``lstat`` and its open (filereads.open_for_reading):
the open must not wait for a writer that never comes. The file is skipped with the "changed type"
warning, whichever thread opens it (the walk, or a reader the walk handed it to)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from drkit.repository.repo import Repository
from drkit.repository.writer import BlobWriter
from drkit.sources.files import Archiver, backup, readahead


def _swap_for_fifo(path: str) -> None:
    if path.endswith("/victim"):
        os.unlink(path)
        os.mkfifo(path)


@pytest.mark.parametrize("readers", [0, 2])
def test_a_file_swapped_for_a_fifo_after_its_lstat_is_skipped_not_waited_for(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, readers: int
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_bytes(b"kept")
    (src / "victim").write_bytes(b"a regular file when lstat saw it")
    real_scan = readahead.scan

    def scan_then_swap(path: str, name: str, old: object) -> readahead.Scanned:
        s = real_scan(path, name, old)  # type: ignore[arg-type]
        _swap_for_fifo(path)
        return s

    monkeypatch.setattr(backup, "scan", scan_then_swap)
    result: list[str] = []
    with BlobWriter(repo=repo) as writer:
        archiver = Archiver(repo=repo, writer=writer, readers=readers)

        def run() -> None:
            try:
                result.append(archiver.root([str(src)], None))
            finally:
                archiver.close()

        walk = threading.Thread(target=run, daemon=True)
        walk.start()
        walk.join(60)
        hung = walk.is_alive()
        if hung:  # unblock the open waiting for a writer, so no thread is left behind
            os.close(os.open(src / "victim", os.O_WRONLY | os.O_NONBLOCK))
            walk.join(60)
        assert not hung, "the open of a FIFO swapped in for a file waited for a writer"
        writer.flush()
    assert result
    assert archiver.warnings == [f"{src}/victim: changed type while being backed up; skipped"]
    assert archiver.stats.files_new == 1
