"""`restore files --exclude src/keep` (a snapshot path spelled as --include and `drkit ls` take it,
without the leading /) matched nothing: the restore wrote over that directory and, with --delete,
removed the target's own files there, the very ones the exclude was meant to protect. A pattern
holding a / is anchored at the snapshot's root, with or without the leading /. Oracle: rsync
-aHAXS --checksum of what the restore may touch against the source, and the excluded directory
byte for byte as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from clirun import drkit
from treediff import rsync_diff

ENV = {"DRKIT_PASSWORD": "exclude-paths"}
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync (scripts/install.sh)"),
]


@pytest.mark.parametrize("pattern", ["src/keep", "/src/keep", "src/keep/", "src/k*p"])
def test_exclude_of_a_snapshot_path_protects_that_path_of_the_target(tmp_path: Path, pattern: str) -> None:
    src = tmp_path / "src"
    (src / "keep").mkdir(parents=True)
    (src / "keep" / "conf").write_text("snapshot's conf\n")
    (src / "data").mkdir()
    (src / "data" / "d").write_text("data\n")
    repo = str(tmp_path / "repo")
    assert drkit("init", "--repo", repo, env=ENV).returncode == 0
    assert drkit("backup", "files", "--repo", repo, str(src), env=ENV).returncode == 0
    target = tmp_path / "target"
    (target / "src" / "keep").mkdir(parents=True)
    (target / "src" / "keep" / "conf").write_text("local conf, edited\n")
    (target / "src" / "keep" / "local-only").write_text("local\n")
    kept = tmp_path / "kept"
    shutil.copytree(target / "src" / "keep", kept)
    proc = drkit(
        "restore", "files", "latest", "--repo", repo, "--target", str(target),
        "--exclude", pattern, "--overwrite", "always", "--delete",
        env=ENV,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    assert rsync_diff(kept, target / "src" / "keep") == []  # untouched
    assert rsync_diff(src / "data", target / "src" / "data") == []  # restored
