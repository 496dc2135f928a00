"""`drkit copy` from a source where a `drkit tag` was interrupted between writing the retagged document and
deleting the old one (tags.py: "an interruption leaves both"): two source documents of the same content,
the new one naming the old as ``meta.original``. Copy matched a source snapshot to a target copy by that
original id even when the copy was of another snapshot still in the source, so both source documents claimed
the one target copy: each copy run retagged it to the other's tags (a new document, the old deleted), forever,
and the documents of one were re-pointed at a copy just deleted. A copy now stands for the snapshot it was
made of while that snapshot is in the source; the retagged one is copied as its own document (its content
deduplicated), and a repeated copy changes nothing. The copies restore equal to the tree (rsync oracle)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from clirun import drkit
from hostile_kit import same_tree

ENV = {"DRKIT_PASSWORD": "copy-tag-pw", "DRKIT_FROM_PASSWORD": "copy-tag-pw"}


def _ok(proc: Any) -> Any:
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout) if proc.stdout.strip().startswith((b"{", b"[")) else proc.stdout


def _copy(source: str, target: str) -> dict[str, Any]:
    result: dict[str, Any] = _ok(drkit("copy", "--from-repo", source, "--to-repo", target, "--json", env=ENV))
    return result


def _tags(repo: str) -> dict[str, list[str]]:
    """Snapshot id → its tags, sorted."""
    return {d["id"]: sorted(d["tags"]) for d in _ok(drkit("snapshots", "--json", "--repo", repo, env=ENV))}


def test_copy_after_an_interrupted_tag_copies_each_source_document_once(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    for repo in (source, target):
        _ok(drkit("init", "--repo", str(repo), env=ENV))
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.bin").write_bytes(bytes(range(256)) * 3000)
    first = _ok(drkit("backup", "files", str(tree), "--tag", "daily", "--json", "--repo", str(source), env=ENV))
    first_id = first["snapshot"]
    assert list(_copy(str(source), str(target))["copied"]) == [first_id]

    doc = next(p for p in (source / "snapshots").rglob("*") if p.is_file() and p.name == first_id)
    kept = tmp_path / "first.doc"
    shutil.copy(doc, kept)
    _ok(drkit("tag", first_id[:8], "--add", "keep", "--repo", str(source), env=ENV))
    shutil.copy(kept, doc)  # as if the tag was interrupted before it deleted the old document
    in_source = _tags(str(source))
    assert len(in_source) == 2 and in_source[first_id] == ["daily"], in_source

    _copy(str(source), str(target))
    after = _tags(str(target))
    assert sorted(after.values()) == [["daily"], ["daily", "keep"]], after  # one copy per source document
    for _ in range(2):  # before: each run retagged the one copy to the other document's tags
        again = _copy(str(source), str(target))
        assert again["copied"] == {} and again["retagged"] == {}, again
        assert sorted(again["present"]) == sorted(in_source), again
        assert _tags(str(target)) == after

    for copy_id in after:
        out = tmp_path / f"out-{copy_id[:8]}"
        _ok(drkit("restore", "files", copy_id[:8], "--target", str(out), "--repo", str(target), env=ENV))
        same_tree(tree, out / tree.name)
