"""`drkit copy` while a backup writes into the source (the daemon's scheduled copy runs beside the
job's backups): a snapshot finished after the copy opened the source is copied whole, and restores
byte for byte -- not refused as "blob … is not in the index" because the copy read the index before
the snapshot existed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit

from drkit.ops.copy import copy_snapshots
from drkit.ops.session import open_repository

pytestmark = pytest.mark.integration

PW = "copy-conc-Pass-5e1d"
ENV = {"DRKIT_PASSWORD": PW}


def _ok(proc: Any) -> Any:
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout) if proc.stdout.strip().startswith((b"{", b"[")) else None


def test_a_snapshot_written_after_the_copy_opened_the_source_is_copied_whole(tmp_path: Path) -> None:
    source, target = str(tmp_path / "src"), str(tmp_path / "dst")
    _ok(drkit("init", "--repo", source, env=ENV))
    _ok(drkit("init", "--repo", target, env=ENV))
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "first.bin").write_bytes(b"first " * 5000)
    _ok(drkit("backup", "files", str(tree), "--json", "--repo", source, env=ENV))
    src = open_repository(source, PW)  # the index is read now, as the scheduled copy's open does
    dst = open_repository(target, PW)
    (tree / "second.bin").write_bytes(bytes(range(256)) * 4000)  # new blobs, only in the next snapshot
    late = _ok(drkit("backup", "files", str(tree), "--json", "--repo", source, env=ENV))["snapshot"]
    try:
        result = copy_snapshots(src, dst, [])
    finally:
        src.close()
        dst.close()
    assert late in result.copied and len(result.copied) == 2
    out = tmp_path / "out"
    _ok(drkit("restore", "files", result.copied[late][:8], "--target", str(out), "--repo", target, env=ENV))
    restored = out / tree.name  # a backed-up directory is restored under its own name
    diff = subprocess.run(
        ["rsync", "-aHAXS", "--dry-run", "--checksum", "--itemize-changes", "--delete", f"{tree}/", f"{restored}/"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert diff.stdout == "", diff.stdout
    _ok(drkit("check", "--read-data", "--repo", target, env=ENV))
