"""The safety margin of incremental local base backups (``BackupOptions.settled_before_ns``): a file whose
size, mtime, ctime and inode all equal the parent's is still read again when its times are not older
than the cutoff, as a change made in the same clock tick as the parent read it keeps equal time stamps."""

from __future__ import annotations

import os
from pathlib import Path

from drkit.repository.repo import Repository
from drkit.sources.files import BackupOptions
from drkit.sources.files.ops import BackupRequest, backup_files


def _backup(repo: Repository, src: Path, cutoff: int | None) -> dict[str, int]:
    result = backup_files(repo, BackupRequest(paths=[str(src)], options=BackupOptions(settled_before_ns=cutoff)))
    return result.snapshot.stats


def test_a_file_inside_the_margin_is_read_again(repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "rel").write_bytes(os.urandom(50_000))
    st = (src / "rel").stat()
    _backup(repo, src, None)
    settled = _backup(repo, src, max(st.st_mtime_ns, st.st_ctime_ns) + 1)  # times older than the cutoff
    assert settled["files_unchanged"] == 1 and settled["bytes_read"] == 0
    recent = _backup(repo, src, st.st_mtime_ns)  # the mtime is not older than the cutoff: read, though equal
    assert recent["files_unchanged"] == 0 and recent["files_changed"] == 1 and recent["bytes_read"] == 50_000
    ctime_only = _backup(repo, src, st.st_ctime_ns)
    assert ctime_only["files_unchanged"] == 0 and ctime_only["bytes_read"] == 50_000


def test_a_file_vanishing_during_the_walk_is_an_expected_warning(repo: Repository, tmp_path: Path) -> None:
    """The archiver's own wording for a file dropped mid-copy (a DROP TABLE) is what a local base backup
    tolerates; an unreadable file is not."""
    from drkit.repository.writer import BlobWriter
    from drkit.sources.files import Archiver
    from drkit.sources.postgres.localbase import unexpected_warnings

    src = tmp_path / "data"
    src.mkdir()
    for name in ("a", "b", "c"):
        (src / name).write_bytes(os.urandom(1000))
    with BlobWriter(repo=repo) as writer:
        archiver = Archiver(repo=repo, writer=writer, on_file=lambda p: os.unlink(p) if p.endswith("/b") else None)
        archiver.root([str(src)], None)
        archiver.close()
        writer.flush()
    assert len(archiver.warnings) == 1 and archiver.warnings[0].startswith(str(src / "b"))
    assert unexpected_warnings(archiver.warnings) == []
