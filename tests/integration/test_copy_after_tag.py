"""`drkit copy` after `drkit tag`: a retag writes the source snapshot under a new id, and copy, which
recognised its earlier copies by source id alone, copied the snapshot again: two documents of the same
content in the target, one with the old tags. Now the earlier copy is recognised (by the source's
original id) and gets the new tags; nothing is copied twice. The retagged copy restores equal to the
backed-up tree (rsync oracle)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit

pytestmark = pytest.mark.integration

ENV = {"DRKIT_PASSWORD": "copy-tag-pw", "DRKIT_FROM_PASSWORD": "copy-tag-pw"}


def _ok(proc: Any) -> Any:
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout) if proc.stdout.strip().startswith((b"{", b"[")) else proc.stdout


def _snapshots(repo: str) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = _ok(drkit("snapshots", "--json", "--repo", repo, env=ENV))
    return docs


def test_copy_after_tag_carries_the_tags_instead_of_copying_again(tmp_path: Path) -> None:
    source, target = str(tmp_path / "source"), str(tmp_path / "target")
    for repo in (source, target):
        _ok(drkit("init", "--repo", repo, env=ENV))
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.bin").write_bytes(bytes(range(256)) * 3000)
    (tree / "sub" / "b.txt").write_text("hello\n" * 500)
    first = _ok(drkit("backup", "files", str(tree), "--tag", "daily", "--json", "--repo", source, env=ENV))["snapshot"]
    copied = _ok(drkit("copy", "--from-repo", source, "--to-repo", target, "--json", env=ENV))["copied"]
    assert list(copied) == [first]

    _ok(drkit("tag", first[:8], "--add", "keep", "--repo", source, env=ENV))
    (retagged,) = _snapshots(source)
    assert retagged["id"] != first and sorted(retagged["tags"]) == ["daily", "keep"]

    again = _ok(drkit("copy", "--from-repo", source, "--to-repo", target, "--json", env=ENV))
    assert again["copied"] == {}, again  # before: copied a second time
    assert again["stats"]["new_blobs"] == 0
    docs = _snapshots(target)
    assert len(docs) == 1, docs
    (copy,) = docs
    assert sorted(copy["tags"]) == ["daily", "keep"]
    assert again["retagged"] == {retagged["id"]: copy["id"]}

    third = _ok(drkit("copy", "--from-repo", source, "--to-repo", target, "--json", env=ENV))
    assert third["copied"] == {} and third["retagged"] == {} and third["present"] == {retagged["id"]: copy["id"]}

    _ok(drkit("tag", copy["id"][:8], "--add", "offsite", "--repo", target, env=ENV))  # a retag in the target only
    fourth = _ok(drkit("copy", "--from-repo", source, "--to-repo", target, "--json", env=ENV))
    assert fourth["copied"] == {} and fourth["retagged"] == {}, fourth
    (copy,) = _snapshots(target)
    assert sorted(copy["tags"]) == ["daily", "keep", "offsite"]  # left alone: the source did not change

    out = tmp_path / "out"
    _ok(drkit("restore", "files", copy["id"][:8], "--target", str(out), "--repo", target, env=ENV))
    diff = subprocess.run(
        [
            "rsync",
            "-aHAXS",
            "--dry-run",
            "--checksum",
            "--itemize-changes",
            "--delete",
            f"{tree}/",
            f"{out / tree.name}/",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert diff.stdout == "", diff.stdout
