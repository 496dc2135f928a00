"""Restore never writes outside its target; point-in-time picks the right snapshot."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from drkit.core import clock
from drkit.core.errors import IntegrityError, UsageError
from drkit.repository import snapshots
from drkit.repository.pack import BLOB_DATA, BLOB_TREE
from drkit.repository.repo import Repository
from drkit.repository.snapshots import Snapshot
from drkit.repository.writer import BlobWriter
from drkit.sources.files import Policy, Selection
from drkit.sources.files.ops import BackupRequest, backup_files, find_files_snapshot, restore_files


def _evil_snapshot(repo: Repository, name: str) -> Snapshot:
    """A hand-built tree: a good file, then a dir holding an entry named ``name``."""
    with BlobWriter(repo=repo) as w:
        data = w.add_blob(BLOB_DATA, b"pwned\n").hex()
        evil = {"nodes": [{"name": name, "type": "file", "mode": 420, "size": 6, "content": [data]}]}
        evil_tree = w.add_blob(BLOB_TREE, json.dumps(evil).encode()).hex()
        root = {
            "nodes": [
                {"name": "a-good", "type": "file", "mode": 420, "size": 6, "content": [data]},
                {"name": "sub", "type": "dir", "mode": 493, "subtree": evil_tree},
            ]
        }
        tree = w.add_blob(BLOB_TREE, json.dumps(root).encode()).hex()
        w.flush()
    snap = Snapshot(source_kind="files", source_name="evil", root={"type": "tree", "tree": tree, "paths": ["/evil"]})
    return snapshots.save(repo.manifests, snap)


@pytest.mark.parametrize("name", ["../../escaped", "..", "/tmp/escaped-abs", "x/../../escaped", ""])
def test_crafted_traversal_names_cannot_escape(repo: Repository, tmp_path: Path, name: str) -> None:
    snap = _evil_snapshot(repo, name)
    target = tmp_path / "box" / "target"
    with pytest.raises(IntegrityError, match="unsafe entry name"):
        restore_files(repo, snap, str(target), Selection())
    outside = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if "target" not in p.parts)
    assert outside == ["box"]
    assert not any(p.name == "escaped" or p.read_bytes() == b"pwned\n" for p in target.rglob("*") if p.is_file())
    assert not Path("/tmp/escaped-abs").exists()


def test_symlink_then_same_named_dir_cannot_redirect_writes(repo: Repository, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    with BlobWriter(repo=repo) as w:
        data = w.add_blob(BLOB_DATA, b"pwned\n").hex()
        inner = w.add_blob(
            BLOB_TREE,
            json.dumps({"nodes": [{"name": "f", "type": "file", "size": 6, "mode": 420, "content": [data]}]}).encode(),
        ).hex()
        tree = w.add_blob(
            BLOB_TREE,
            json.dumps(
                {
                    "nodes": [
                        {"name": "d", "type": "dir", "mode": 493, "subtree": inner},
                        {"name": "d", "type": "symlink", "target": str(outside)},
                    ]
                }
            ).encode(),
        ).hex()
        w.flush()
    snap = snapshots.save(
        repo.manifests,
        Snapshot(source_kind="files", source_name="evil", root={"type": "tree", "tree": tree, "paths": []}),
    )
    with pytest.raises(IntegrityError, match="duplicate"):
        restore_files(repo, snap, str(tmp_path / "t"), Selection())
    assert list(outside.iterdir()) == []


def test_existing_symlink_in_target_is_not_followed(repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d" / "sub" / "deeper").mkdir(parents=True)  # directories the walk would create under "d"
    (src / "d" / "f").write_text("x")
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "t"
    (target / "src").mkdir(parents=True)
    os.symlink(outside, target / "src" / "d")
    with pytest.raises(UsageError, match="already holds 1 entry"):
        restore_files(repo, snap, str(target), Selection())
    assert list(outside.iterdir()) == []
    stats = restore_files(repo, snap, str(target), Selection(), policy=Policy("never"))
    assert list(outside.iterdir()) == [] and stats.warnings and (target / "src" / "d").is_symlink()
    restore_files(repo, snap, str(target), Selection(), policy=Policy("always"))
    assert list(outside.iterdir()) == []
    assert not (target / "src" / "d").is_symlink() and (target / "src" / "d" / "f").read_text() == "x"


def test_point_in_time_picks_latest_at_or_before(repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    base = 1_795_000_000.0  # 2026-11-18T...
    ids = []
    try:
        for day in range(3):
            clock.set_clock(lambda day=day: base + day * 86400)
            (src / "version").write_text(f"day {day}\n")
            ids.append(backup_files(repo, BackupRequest(paths=[str(src)])).snapshot.id)
    finally:
        clock.set_clock(None)
    times = [snapshots.find(repo.manifests, i).time for i in ids]
    assert find_files_snapshot(repo, None, times[1]).id == ids[1]  # exactly at
    just_before_third = times[2].replace("+00:00", "Z").replace(times[2][11:19], "00:00:00")
    assert find_files_snapshot(repo, None, just_before_third).id == ids[1]
    assert find_files_snapshot(repo, None, "2099-01-01T00:00:00Z").id == ids[2]
    with pytest.raises(UsageError, match="no files snapshot"):
        find_files_snapshot(repo, None, "2000-01-01T00:00:00Z")
    with pytest.raises(UsageError, match="time zone"):
        find_files_snapshot(repo, None, "2026-11-19T00:00:00")
    snap = find_files_snapshot(repo, None, times[1])
    restore_files(repo, snap, str(tmp_path / "out"), Selection())
    assert (tmp_path / "out" / "src" / "version").read_text() == "day 1\n"
