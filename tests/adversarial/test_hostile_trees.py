"""File trees that once broke drkit: a directory 1000 levels deep (anyone who can write in a backed-up
tree can make one) is backed up and restored like any other; crafted tree blobs (with the key) are
refused as damage (exit 13) by restore, ls and check, never a crash."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from crafting import TREES, make_deep
from hostile_kit import backup, blob_hex, ok, one_line, plant_snapshot, run, same_tree

DEPTH = 1000


def _deep(root: Path) -> Path:
    return make_deep(root, DEPTH)


def _rm(*paths: Path) -> None:
    """rm -rf: Python's rmtree recurses once per level."""
    subprocess.run(["rm", "-rf", *map(str, paths)], check=True)


def test_directory_1000_levels_deep(tmp_path: Path) -> None:
    repo, src, out = tmp_path / "repo", tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "top.txt").write_text("top\n")
    _deep(src)
    try:
        ok("init", "--repo", str(repo))
        first = backup(repo, src)
        (src / "top.txt").write_text("changed\n")
        second = backup(repo, src)  # with a parent snapshot 1000 levels deep
        ok("restore", second, "--target", str(out), "--repo", str(repo))
        same_tree(src, out / "src")
        listing = ok("ls", second, "--repo", str(repo)).splitlines()
        assert len(listing) == 2 + DEPTH + 2 and sum(p.endswith("/d/f") for p in listing) == 2, listing[-3:]
        assert ok("diff", first, second, "--repo", str(repo)).split() == ["M", "/src/top.txt"]
        ok("check", "--repo", str(repo), "--read-data")
    finally:
        _rm(src, out)


@pytest.mark.parametrize("what", sorted(TREES))
def test_crafted_tree_is_damage_not_a_crash(tmp_path: Path, what: str) -> None:
    repo = tmp_path / "repo"
    ok("init", "--repo", str(repo))
    tree = json.dumps(TREES[what]).encode()
    root = json.dumps({"nodes": [{"name": "top", "type": "dir", "mode": 448, "subtree": blob_hex(repo, tree)}]})
    snap = plant_snapshot(repo, [root.encode(), tree])
    assert (
        "malformed" in one_line(run("restore", snap, "--target", str(tmp_path / "out"), "--repo", str(repo)), 13)
        or "unsafe" in run("restore", snap, "--target", str(tmp_path / "out"), "--repo", str(repo)).stderr
    )
    one_line(run("ls", snap, "--repo", str(repo)), 13)
    proc = run("check", "--repo", str(repo))
    one_line(proc, 13)
    assert snap[:8] in proc.stderr + proc.stdout


SNAPSHOT_DOCS = {
    "source kind a number": {"source_kind": 5, "source_name": "x", "root": {"type": "tree", "tree": "00" * 32}},
    "time not a time": {
        "source_kind": "files",
        "source_name": "x",
        "time": "yesterday",
        "root": {"type": "tree", "tree": "00" * 32},
    },
    "root tree a number": {
        "source_kind": "files",
        "source_name": "x",
        "time": "2099-01-01T00:00:00+00:00",
        "root": {"type": "tree", "tree": 5},
    },
    "tags not a list": {"source_kind": "files", "source_name": "x", "tags": "a", "root": {}},
}


@pytest.mark.parametrize("what", sorted(SNAPSHOT_DOCS))
def test_crafted_snapshot_document_is_skipped_and_reported(tmp_path: Path, what: str) -> None:
    from hostile_kit import open_repo

    repo, src = tmp_path / "repo", tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("intact\n")
    ok("init", "--repo", str(repo))
    good = backup(repo, src)
    doc = SNAPSHOT_DOCS[what]
    if what == "root tree a number":  # of the good one's source, so that `latest` is this one's
        doc = {**doc, "source_name": str(src), "root": {**doc["root"], "paths": [str(src)]}}
    crafted = open_repo(repo).manifests.put("snapshot", doc)
    proc = run("snapshots", "--repo", str(repo))
    assert proc.returncode == 0 and good[:8] in proc.stdout, proc.stderr
    if what == "root tree a number":  # a valid document, newest: `latest`, refused as damage
        assert "malformed" in one_line(
            run("restore", "latest", "--target", str(tmp_path / "o"), "--repo", str(repo)), 13
        )
    else:
        assert "skipped" in proc.stderr
        # newer than the good snapshot: `latest` refuses to fall back silently; --skip-damaged asks for it
        refused = run("restore", "latest", "--target", str(tmp_path / "o"), "--repo", str(repo))
        assert crafted[:16] in one_line(refused, 13)
        ok("restore", "latest", "--skip-damaged", "--target", str(tmp_path / "o"), "--repo", str(repo))
        same_tree(src, tmp_path / "o" / "src")
    proc = run("check", "--repo", str(repo))
    one_line(proc, 13)
    assert crafted[:8] in proc.stdout + proc.stderr
