"""Local base backups' choices: the margin before the parent's copy start, which earlier backup an
incremental one builds on, which data directory is accepted, what is left out, which warnings are
expected of a running cluster."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from drkit.core.errors import UsageError
from drkit.repository.snapshots import Snapshot
from drkit.sources.postgres import localtree
from drkit.sources.postgres.localbase import unexpected_warnings


def _snap(sid: str, **meta: object) -> Snapshot:
    doc = {"method": "local", "system_identifier": "42", "pgdata": "/d", "copy_start_ns": 1, **meta}
    return Snapshot(
        source_kind="postgres",
        source_name="c",
        root={"type": "tree", "tree": "00"},
        meta=doc,
        id=sid,
        host=socket.gethostname(),
    )


def test_the_cutoff_lies_a_margin_before_the_parent_copy() -> None:
    parent = _snap("p", copy_start_ns=10_000_000_000)
    assert localtree.settled_before(parent) == 10_000_000_000 - localtree.MTIME_MARGIN_NS
    assert localtree.MTIME_MARGIN_NS >= 2_000_000_000  # covers 1 s and 2 s (FAT) time stamp granularity


def test_previous_is_the_newest_local_backup_of_this_cluster_directory_and_host() -> None:
    other_host = _snap("h")
    other_host.host = "elsewhere"
    snaps = [
        _snap("a"),
        _snap("b"),
        _snap("c", method=None),
        _snap("d", system_identifier="7"),
        _snap("e", pgdata="/other"),
        other_host,
    ]
    found = localtree.previous(snaps, "42", "/d")
    assert found is not None and found.id == "b"
    assert localtree.previous(snaps[2:], "42", "/d") is None


def _data_dir(root: Path, system_id: int) -> Path:
    (root / "global").mkdir(parents=True)
    (root / "pg_tblspc").mkdir()
    (root / "global" / "pg_control").write_bytes(system_id.to_bytes(8, sys.byteorder) + bytes(100))
    return root


def test_the_data_directory_must_be_the_servers(tmp_path: Path) -> None:
    data = _data_dir(tmp_path / "d", 7001)
    assert localtree.check_data_dir(data, "7001") == str(data)
    with pytest.raises(UsageError, match="not the data directory of the server"):
        localtree.check_data_dir(data, "7002")
    (data / "pg_tblspc" / "16400").symlink_to(tmp_path)
    with pytest.raises(UsageError, match="tablespaces"):
        localtree.check_data_dir(data, "7001")
    with pytest.raises(UsageError, match="cannot read the data directory"):
        localtree.check_data_dir(tmp_path / "missing", "7001")


def test_vanished_and_torn_files_are_expected_others_fail() -> None:
    warnings = [
        "/d/base/1/123: No such file or directory",
        "/d/base/1/124: file changed while being read; the snapshot holds what was read",
        "/d/base/1/125: Permission denied",
    ]
    assert unexpected_warnings(warnings) == ["/d/base/1/125: Permission denied"]


def test_data_directory_excludes() -> None:
    ex = localtree.excludes("/srv/pg[15]/data")
    assert ex.match("/srv/pg[15]/data/pg_wal/000000010000000000000001", "000000010000000000000001")
    assert ex.match("/srv/pg[15]/data/postmaster.pid", "postmaster.pid")
    assert ex.match("/srv/pg[15]/data/base/5/pgsql_tmp", "pgsql_tmp")
    assert not ex.match("/srv/pg[15]/data/pg_wal", "pg_wal")  # the directory stays, empty
    assert not ex.match("/srv/pg[15]/data/base/5/16384", "16384")
    assert not ex.match("/srv/pg[15]/data/global/pg_control", "pg_control")
