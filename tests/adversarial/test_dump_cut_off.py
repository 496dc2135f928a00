"""`drkit dump` of a tree whose directory cannot be read (its tree blob is missing): exit 13, and the tar on
standard output must not read as a whole archive to GNU tar (it stops between two members, where tar would
otherwise take it as complete and extract less without a word)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hostile_kit import DRKIT, ENV, blob_hex, ok, plant_snapshot


@pytest.mark.skipif(shutil.which("tar") is None, reason="needs GNU tar")
def test_tar_cut_between_members_fails_in_tar(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    ok("init", "--repo", str(repo))
    empty = b'{"nodes":[]}'
    root = json.dumps(
        {
            "nodes": [
                {"name": "empty", "type": "dir", "mode": 0o755, "subtree": blob_hex(repo, empty)},
                {"name": "gone", "type": "dir", "mode": 0o755, "subtree": "ab" * 32},
            ]
        }
    ).encode()
    snap = plant_snapshot(repo, [root, empty])
    proc = subprocess.run(
        [*DRKIT, "dump", snap[:8], "/", "--repo", str(repo)], capture_output=True, env={**os.environ, **ENV}
    )
    assert proc.returncode == 13, proc.stderr
    assert proc.stdout  # the members before the damage were written
    listed = subprocess.run(["tar", "tf", "-"], input=proc.stdout, capture_output=True)
    assert listed.returncode != 0, listed.stdout
