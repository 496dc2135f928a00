"""Restore fidelity (memory backend): extended attributes, holes inside chunks that also hold data,
old trees without xattrs, and what a restore does with a target that already holds entries."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from refusing_fs import takes_o_direct
from treediff import data_bytes

from drkit.core.errors import IntegrityError, UsageError
from drkit.core.filewriters import BLOCK, DIRECT_FROM, data_extents
from drkit.repository import snapshots
from drkit.repository.pack import BLOB_DATA, BLOB_TREE
from drkit.repository.repo import Repository
from drkit.repository.snapshots import Snapshot
from drkit.repository.writer import BlobWriter
from drkit.sources.files import Policy, Selection
from drkit.sources.files.fetch import zero_cells
from drkit.sources.files.ops import BackupRequest, backup_files, restore_files
from drkit.sources.files.tree import Node, decode_tree, encode_tree

MTIME = 1_700_000_000_123_456_789


def _islands(path: Path, size: int, every: int = 64 << 10) -> None:
    """A sparse file with 100 bytes of data every ``every`` bytes: each chunk holds data and holes."""
    with open(path, "wb") as f:
        f.truncate(size)
        for off in range(every // 2, size, every):
            f.seek(off)
            f.write(os.urandom(100))


def test_holes_inside_chunks_that_hold_data_stay_holes(repo: Repository, tmp_path: Path) -> None:
    """Before: a chunk holding data and zeros was written whole, so the file came back allocated."""
    src = tmp_path / "src"
    src.mkdir()
    _islands(src / "small", DIRECT_FROM - 4096)  # written buffered
    _islands(src / "large", 6 << 20, every=256 << 10)  # O_DIRECT where the file system takes it
    with open(src / "tail", "wb") as f:  # data, then a trailing hole
        f.write(os.urandom(10_000))
        f.truncate(3 << 20)
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    restore_files(repo, snap, str(tmp_path / "out"), Selection())
    for name in ("small", "large", "tail"):
        a, b = src / name, tmp_path / "out" / "src" / name
        assert a.read_bytes() == b.read_bytes(), name
        assert data_bytes(b) <= data_bytes(a), name
        # st_blocks also counts the file system's extent blocks: a few KiB of slack
        assert os.stat(b).st_blocks <= os.stat(a).st_blocks + 16, (name, os.stat(a).st_blocks, os.stat(b).st_blocks)
    if takes_o_direct(tmp_path):
        assert os.stat(tmp_path / "out" / "src" / "large").st_blocks * 512 < 1 << 20


def test_zero_cells_and_data_extents() -> None:
    data = bytes(100) + b"x" + bytes(3 * BLOCK) + b"y" + bytes(50)
    # cells aligned in the file: the blob sits at file offset BLOCK - 10
    cells = zero_cells(data, BLOCK - 10)
    assert cells == [(0, 10), (10 + BLOCK, 10 + 3 * BLOCK)]  # the cell holding "x" (at 100) and "y" are not
    assert all(not any(data[a:b]) for a, b in cells)
    assert zero_cells(os.urandom(1 << 20), 0) == []
    assert zero_cells(memoryview(bytes(2 * BLOCK) + b"z"), 0) == [(0, 2 * BLOCK)]
    # a segment of 4 blocks: a hole over blocks 1-2 (ragged ends) is skipped, the rest written
    seg = 4 * BLOCK
    assert data_extents([(BLOCK - 5, 3 * BLOCK + 7)], seg, seg, BLOCK) == [(0, BLOCK), (3 * BLOCK, seg)]
    # adjacent holes (from two blobs) merge before they are cut to blocks
    assert data_extents([(BLOCK + 7, 2 * BLOCK + 9), (2 * BLOCK + 9, 3 * BLOCK)], seg, seg, BLOCK) == [
        (0, 2 * BLOCK),
        (3 * BLOCK, seg),
    ]
    # a hole shorter than min_skip inside the segment is written
    assert data_extents([(BLOCK, 3 * BLOCK)], seg, seg, 4 * BLOCK) == [(0, seg)]
    # a hole reaching the end of the placed bytes takes the padding of a last segment, whatever its length
    assert data_extents([(BLOCK, BLOCK + 100)], BLOCK + 100, 2 * BLOCK) == [(0, BLOCK)]
    assert data_extents([], 10, BLOCK) == [(0, BLOCK)]


def _xattr_ok(path: Path) -> bool:
    try:
        os.setxattr(path, "user.drkit-probe", b"1")
    except OSError:
        return False
    os.removexattr(path, "user.drkit-probe")
    return True


def test_user_xattrs_round_trip_on_files_dirs_and_readonly_files(repo: Repository, tmp_path: Path) -> None:
    """Before: extended attributes were dropped without a word."""
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    if not _xattr_ok(src):
        pytest.skip("no user xattrs on this file system")
    (src / "f").write_text("x")
    (src / "ro").write_text("read-only")
    os.setxattr(src / "f", "user.mime_type", b"text/plain")
    os.setxattr(src / "f", "user.bin", bytes(range(256)))
    os.setxattr(src / "d", "user.dir", b"")
    os.setxattr(src / "ro", "user.x", b"1")
    os.chmod(src / "ro", 0o444)
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    stats = restore_files(repo, snap, str(tmp_path / "out"), Selection())
    out = tmp_path / "out" / "src"
    assert stats.warnings == []
    for rel in ("f", "d", "ro", "."):
        want = {n: os.getxattr(src / rel, n) for n in os.listxattr(src / rel)}
        assert {n: os.getxattr(out / rel, n) for n in os.listxattr(out / rel)} == want, rel
    assert os.getxattr(out / "f", "user.bin") == bytes(range(256))


def test_tree_without_xattrs_reads_as_none_and_writes_no_field() -> None:
    """The format change is compatible: an old node has no ``xattrs``; a node without any writes none."""
    old = json.dumps({"nodes": [{"name": "a", "type": "file", "mode": 420, "size": 0}]}).encode()
    [node] = decode_tree(old, "t")
    assert node.xattrs == {}
    assert b"xattrs" not in encode_tree([Node(name="a", type="file")])
    assert b'"xattrs":{"user.a":"AA=="}' in encode_tree([Node(name="a", type="file", xattrs={"user.a": "AA=="})])


@pytest.mark.parametrize(
    "bad", ["not a dict", {"user.a": "%%%"}, {"user.a": 5}, {"": "AA=="}, {"user.\ud800": "AA=="}, None, []]
)
def test_malformed_xattrs_are_refused_before_anything_is_written(repo: Repository, tmp_path: Path, bad: object) -> None:
    with BlobWriter(repo=repo) as w:
        data = w.add_blob(BLOB_DATA, b"ok\n").hex()
        tree = w.add_blob(
            BLOB_TREE,
            json.dumps(
                {
                    "nodes": [
                        {"name": "a", "type": "file", "mode": 420, "size": 3, "content": [data]},
                        {"name": "b", "type": "file", "mode": 420, "size": 3, "content": [data], "xattrs": bad},
                    ]
                }
            ).encode(),
        )
        w.flush()
    snap = snapshots.save(
        repo.manifests,
        Snapshot(source_kind="files", source_name="evil", root={"type": "tree", "tree": tree.hex(), "paths": []}),
    )
    with pytest.raises(IntegrityError, match="extended attribute"):
        restore_files(repo, snap, str(tmp_path / "t"), Selection())
    assert list((tmp_path / "t").iterdir()) == []


# -- a target that already holds entries ----------------------------------------------------------
def _snapshot(repo: Repository, src: Path) -> Snapshot:
    (src / "sub").mkdir(parents=True, exist_ok=True)
    (src / "same").write_text("snapshot same\n")
    (src / "changed").write_text("snapshot version\n")
    (src / "sub" / "new").write_text("only in snapshot\n")
    (src / "stale").write_text("snapshot stale\n")
    for p in ("same", "changed", "sub/new", "stale"):
        os.utime(src / p, ns=(MTIME, MTIME))
    return backup_files(repo, BackupRequest(paths=[str(src)])).snapshot


def _target(tmp_path: Path) -> Path:
    """What the target held before: ``same`` with other content but the snapshot's size and mtime,
    ``changed`` newer than the snapshot, and an entry the snapshot does not have."""
    out = tmp_path / "out" / "src"
    out.mkdir(parents=True)
    (out / "same").write_text("TARGET SAME!!\n")  # same size as the snapshot's
    (out / "changed").write_text("target version, newer\n")
    os.utime(out / "same", ns=(MTIME, MTIME))
    os.utime(out / "changed", ns=(MTIME + 10**9, MTIME + 10**9))
    (out / "stale").write_text("target stale\n")
    os.utime(out / "stale", ns=(MTIME - 10**9, MTIME - 10**9))
    (out / "stray").write_text("not in snapshot\n")
    (out / "sub").mkdir()
    (out / "sub" / "old").write_text("not in snapshot either\n")
    return out


def _state(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*")) if p.is_file()}


def test_default_refuses_a_target_in_the_way_and_writes_nothing(repo: Repository, tmp_path: Path) -> None:
    """Before: the restore silently mixed the snapshot's files with what the target held."""
    snap = _snapshot(repo, tmp_path / "src")
    out = _target(tmp_path)
    before = _state(out)
    with pytest.raises(UsageError, match=r"already holds 5 entries .*nothing was written") as info:
        restore_files(repo, snap, str(tmp_path / "out"), Selection())
    assert "--overwrite" in (info.value.hint or "")
    assert _state(out) == before
    # an existing empty directory is no conflict, nor is the rest of the target's top level
    (tmp_path / "other" / "src").mkdir(parents=True)
    (tmp_path / "other" / "unrelated").write_text("stays")
    restore_files(repo, snap, str(tmp_path / "other"), Selection())
    assert (tmp_path / "other" / "unrelated").read_text() == "stays"


SNAP = {
    "same": "snapshot same\n",
    "changed": "snapshot version\n",
    "sub/new": "only in snapshot\n",
    "stale": "snapshot stale\n",
}
EXTRA = {"stray": "not in snapshot\n", "sub/old": "not in snapshot either\n"}


@pytest.mark.parametrize(
    ("overwrite", "delete", "expected"),
    [
        ("always", False, {**SNAP, **EXTRA}),
        ("always", True, SNAP),
        ("if-changed", False, {**SNAP, **EXTRA, "same": "TARGET SAME!!\n"}),  # size + mtime equal: kept
        ("if-newer", True, {**SNAP, "changed": "target version, newer\n", "same": "TARGET SAME!!\n"}),
        (
            "never",
            False,
            {
                "same": "TARGET SAME!!\n",
                "changed": "target version, newer\n",
                **EXTRA,
                "sub/new": "only in snapshot\n",
                "stale": "target stale\n",
            },
        ),
    ],
)
def test_overwrite_and_delete_policies(
    repo: Repository, tmp_path: Path, overwrite: str, delete: bool, expected: dict[str, str]
) -> None:
    snap = _snapshot(repo, tmp_path / "src")
    out = _target(tmp_path)
    stats = restore_files(repo, snap, str(tmp_path / "out"), Selection(), policy=Policy(overwrite, delete))
    assert _state(out) == expected
    assert stats.warnings == []
    assert (stats.deleted, stats.extra) == ((2, 0) if delete else (0, 2))
    assert stats.unchanged == (overwrite == "if-changed")
    if overwrite in ("always", "if-changed"):  # metadata is the snapshot's, kept content or not
        assert os.stat(out / "same").st_mtime_ns == MTIME and os.stat(out / "changed").st_mtime_ns == MTIME


def test_delete_stays_inside_the_selection(repo: Repository, tmp_path: Path) -> None:
    snap = _snapshot(repo, tmp_path / "src")
    out = _target(tmp_path)
    restore_files(repo, snap, str(tmp_path / "out"), Selection(("src/sub",)), policy=Policy("always", delete=True))
    assert _state(out) == {
        "same": "TARGET SAME!!\n",
        "changed": "target version, newer\n",
        "stale": "target stale\n",
        "stray": "not in snapshot\n",
        "sub/new": "only in snapshot\n",
    }


@pytest.mark.parametrize("include", ["src/Sub", "src/sub/", "/src/sub", "src//sub", "src/same/x", ""])
def test_an_include_naming_no_snapshot_path_is_refused(repo: Repository, tmp_path: Path, include: str) -> None:
    """Before: ``--include src/Sub`` (a typo, the snapshot has ``src/sub``) restored nothing with exit 0,
    and with ``--delete`` removed the target's ``src/Sub`` with everything in it."""
    snap = _snapshot(repo, tmp_path / "src")
    out = _target(tmp_path)
    (out / "Sub").mkdir()
    (out / "Sub" / "precious").write_text("the target's own\n")
    before = _state(out)
    wanted = include.strip("/")  # as `restore files` passes it
    if wanted == "src/sub":
        restore_files(repo, snap, str(tmp_path / "out"), Selection((wanted,)), policy=Policy("always", delete=True))
        before.pop("sub/old")  # removed by --delete: inside the restored path
        assert _state(out) == {**before, "sub/new": "only in snapshot\n"}
        return
    with pytest.raises(UsageError, match="no such path in the snapshot; nothing was written"):
        restore_files(repo, snap, str(tmp_path / "out"), Selection((wanted,)), policy=Policy("always", delete=True))
    assert _state(out) == before


def test_if_changed_sets_no_metadata_through_a_hard_link_of_the_target(repo: Repository, tmp_path: Path) -> None:
    """Before: a kept file (size and mtime match) hard-linked to a file outside the target got the
    snapshot's mode, mtime and xattrs in place, so the other name changed too."""
    snap = _snapshot(repo, tmp_path / "src")
    out = _target(tmp_path)
    os.chmod(out / "same", 0o640)
    outside = tmp_path / "outside"
    os.link(out / "same", outside)
    stats = restore_files(repo, snap, str(tmp_path / "out"), Selection(), policy=Policy("if-changed"))
    assert stats.unchanged == 0
    assert (out / "same").read_text() == "snapshot same\n"
    assert outside.read_text() == "TARGET SAME!!\n" and oct(outside.stat().st_mode & 0o777) == "0o640"
    assert outside.stat().st_nlink == 1


def test_a_directory_in_the_way_of_a_file_goes_only_with_delete(repo: Repository, tmp_path: Path) -> None:
    snap = _snapshot(repo, tmp_path / "src")
    out = tmp_path / "out" / "src"
    (out / "same").mkdir(parents=True)
    (out / "same" / "inside").write_text("x")
    stats = restore_files(repo, snap, str(tmp_path / "out"), Selection(), policy=Policy("always"))
    assert (out / "same" / "inside").exists() and len(stats.warnings) == 1 and "same" in stats.warnings[0]
    stats = restore_files(repo, snap, str(tmp_path / "out"), Selection(), policy=Policy("always", delete=True))
    assert stats.warnings == [] and (out / "same").read_text() == "snapshot same\n"


def test_a_target_that_is_a_file_is_a_usage_error(repo: Repository, tmp_path: Path) -> None:
    snap = _snapshot(repo, tmp_path / "src")
    (tmp_path / "file").write_text("x")
    for target in (tmp_path / "file", tmp_path / "file" / "below"):
        with pytest.raises(UsageError, match="not a directory"):
            restore_files(repo, snap, str(target), Selection())
    assert (tmp_path / "file").read_text() == "x"


def test_an_xattr_change_is_backed_up_and_shown_by_diff(repo: Repository, tmp_path: Path) -> None:
    from drkit.sources.files import diff_trees

    src = tmp_path / "src"
    src.mkdir()
    if not _xattr_ok(src):
        pytest.skip("no user xattrs on this file system")
    (src / "f").write_text("same content")
    first = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    os.setxattr(src / "f", "user.added", b"later")
    second = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    changes = [(c.kind, c.path) for c in diff_trees(repo, first.root["tree"], second.root["tree"])]
    assert ("M", "src/f") in changes
    restore_files(repo, second, str(tmp_path / "out"), Selection())
    assert os.getxattr(tmp_path / "out" / "src" / "f", "user.added") == b"later"


def test_a_drill_finds_a_lost_extended_attribute(repo: Repository, tmp_path: Path) -> None:
    from drkit.sources.files.drills.verify import verify_files

    src = tmp_path / "src"
    src.mkdir()
    if not _xattr_ok(src):
        pytest.skip("no user xattrs on this file system")
    (src / "f").write_text("x")
    os.setxattr(src / "f", "user.keep", b"me")
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    restore_files(repo, snap, str(tmp_path / "out"), Selection())
    checks = {c.name: c for c in verify_files(repo, snap.root["tree"], tmp_path / "out")}
    assert checks["files.metadata"].ok, checks["files.metadata"].detail
    os.removexattr(tmp_path / "out" / "src" / "f", "user.keep")
    checks = {c.name: c for c in verify_files(repo, snap.root["tree"], tmp_path / "out")}
    assert not checks["files.metadata"].ok and "user.keep" in checks["files.metadata"].detail


def test_always_replaces_a_symlink_to_a_directory_at_a_hard_links_name(repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("linked\n")
    os.link(src / "a", src / "b")
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    out = tmp_path / "out" / "src"
    (tmp_path / "elsewhere").mkdir()
    out.mkdir(parents=True)
    (out / "b").symlink_to(tmp_path / "elsewhere")
    restore_files(repo, snap, str(tmp_path / "out"), Selection(), policy=Policy("always"))
    assert not (out / "b").is_symlink() and os.stat(out / "b").st_ino == os.stat(out / "a").st_ino
    assert list((tmp_path / "elsewhere").iterdir()) == []
