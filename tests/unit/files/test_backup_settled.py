"""The safety margin of incremental local base backups (``BackupOptions.settled_before_ns``): a file whose
size, mtime, ctime and inode all equal the parent's is still read again when its times are not older
than the cutoff, as a change made in the same clock tick as the parent read it keeps equal time stamps;
and the cutoff a PostgreSQL local backup uses lies ``MTIME_MARGIN_NS`` before its parent's copy start."""

from __future__ import annotations

import os
from pathlib import Path

from drkit.ops.files import BackupRequest, backup_files
from drkit.repository.repo import Repository
from drkit.repository.snapshots import Snapshot
from drkit.sources.files import BackupOptions
from drkit.sources.postgres import localtree
from drkit.sources.postgres.localbase import unexpected_warnings


def _backup(repo: Repository, src: Path, cutoff: int | None) -> dict[str, int]:
    result = backup_files(repo, BackupRequest([str(src)], BackupOptions(settled_before_ns=cutoff)))
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


def test_the_cutoff_lies_a_margin_before_the_parent_copy(tmp_path: Path) -> None:
    parent = Snapshot("postgres", "c", {"type": "tree"}, meta={"copy_start_ns": 10_000_000_000})
    assert localtree.settled_before(parent) == 10_000_000_000 - localtree.MTIME_MARGIN_NS
    assert localtree.MTIME_MARGIN_NS >= 2_000_000_000  # covers 1 s and 2 s (FAT) time stamp granularity


def test_vanished_and_torn_files_are_expected_others_fail() -> None:
    warnings = [
        "/d/base/1/123: No such file or directory",
        "/d/base/1/124: file changed while being read; the snapshot holds what was read",
        "/d/base/1/125: Permission denied",
    ]
    assert unexpected_warnings(warnings) == ["/d/base/1/125: Permission denied"]


def test_data_directory_excludes(tmp_path: Path) -> None:
    ex = localtree.excludes("/srv/pg[15]/data")
    assert ex.match("/srv/pg[15]/data/pg_wal/000000010000000000000001", "000000010000000000000001")
    assert ex.match("/srv/pg[15]/data/postmaster.pid", "postmaster.pid")
    assert ex.match("/srv/pg[15]/data/base/5/pgsql_tmp", "pgsql_tmp")
    assert not ex.match("/srv/pg[15]/data/pg_wal", "pg_wal")  # the directory stays, empty
    assert not ex.match("/srv/pg[15]/data/base/5/16384", "16384")
    assert not ex.match("/srv/pg[15]/data/global/pg_control", "pg_control")
