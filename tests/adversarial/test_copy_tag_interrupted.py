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


def test_a_copy_forgotten_in_the_target_meanwhile_is_not_brought_back_by_its_retag(tmp_path: Path) -> None:
    """The copy reads the target's copies before it takes the maintenance lock for a retag; a forget of the
    copy in between (the copy's shared lock does not exclude it) left a stale document, which the retag wrote
    again under a new id: the forgotten snapshot came back, with the source's new tags."""
    from drkit.ops.copy_tags import carry_tags, earlier_copies
    from drkit.ops.session import open_repository
    from drkit.repository import snapshots

    source, target = tmp_path / "source", tmp_path / "target"
    for repo in (source, target):
        _ok(drkit("init", "--repo", str(repo), env=ENV))
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_text("a\n")
    first = _ok(drkit("backup", "files", str(tree), "--json", "--repo", str(source), env=ENV))["snapshot"]
    _copy(str(source), str(target))
    _ok(drkit("tag", first[:8], "--add", "keep", "--repo", str(source), env=ENV))
    src = open_repository(str(source), ENV["DRKIT_PASSWORD"])
    dst = open_repository(str(target), ENV["DRKIT_PASSWORD"])
    try:
        (retagged,) = snapshots.load_all(src.manifests)
        (copy,) = earlier_copies(dst, src.config.id).made_of.values()  # as copy_snapshots reads them
        _ok(drkit("forget", copy.id[:8], "--repo", str(target), env=ENV))  # meanwhile, in another process
        done, kept = carry_tags(src, dst, [(retagged, copy)])
    finally:
        src.close()
        dst.close()
    assert done == {} and list(kept) == [retagged.id], (done, kept)
    assert _tags(str(target)) == {}  # before: the forgotten copy was written again, tagged keep
