"""`drkit repair snapshots --forget` in an immutable repository (Object Lock on a real S3 server,
SeaweedFS): the original of a repaired snapshot is under retention and `forget` keeps it, but the
command printed "originals removed" (and `--json` said `forgot_originals: true`). Now it says the
original could not be removed and why (locked until …), and the original is indeed still there."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit

from drkit.ops.session import open_repository
from drkit.repository.format import pack_key
from drkit.repository.pack import BLOB_DATA

PW = "repair-locked-pw"
ENV = {"DRKIT_PASSWORD": PW}
pytestmark = pytest.mark.integration


def _data_only_pack(url: str) -> str:
    """A pack holding data blobs only (losing it drops a file, never a directory's tree)."""
    repo = open_repository(url, PW)
    try:
        index = repo.index
        for pack_id in sorted(index.pack_sizes):
            first, n = index.run(pack_id)
            if all(index.entry_fields(e)[0] == BLOB_DATA for e in range(first, first + n)):
                return pack_id
    finally:
        repo.close()
    raise AssertionError("no data-only pack")


@pytest.mark.parametrize("as_json", [False, True])
def test_repair_forget_says_a_locked_original_was_kept(
    seaweedfs_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, as_json: bool
) -> None:
    seaweedfs_server.apply_env(monkeypatch)
    bucket = seaweedfs_server.make_bucket("drkit-repair-locked", object_lock=True)
    prefix = uuid.uuid4().hex[:10]
    url = seaweedfs_server.url(bucket, prefix)
    init = drkit("init", "--repo", url, "--immutable-days", "1", "--pack-size-mib", "1", env=ENV)
    assert init.returncode == 0, init.stderr
    src = tmp_path / "src"
    (src / "lost").mkdir(parents=True)
    (src / "kept.txt").write_text("kept\n" * 100)
    (src / "lost" / "big.bin").write_bytes(os.urandom(5 << 20))
    backup = drkit("backup", "files", str(src), "--repo", url, "--json", env=ENV)
    assert backup.returncode == 0, backup.stderr
    original = json.loads(backup.stdout)["snapshot"]
    # a plain DeleteObject under Object Lock adds a delete marker: the pack is gone for every reader
    seaweedfs_server.client().delete_object(Bucket=bucket, Key=f"{prefix}/{pack_key(_data_only_pack(url))}")
    repaired_index = drkit("repair", "index", "--repo", url, env=ENV)
    assert repaired_index.returncode == 0, repaired_index.stderr

    args = ["repair", "snapshots", "--forget", "--repo", url] + (["--json"] if as_json else [])
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 0, proc.stderr
    if as_json:
        doc = json.loads(proc.stdout)
        assert doc["forgot_originals"] is False  # before: true
        assert [k["id"] for k in doc["originals_kept"]] == [original] and doc["originals_kept"][0]["locked_until"]
    else:
        assert b"; originals removed" not in proc.stdout, proc.stdout  # before: said so
        assert b"0 originals removed, 1 kept (locked)" in proc.stdout, proc.stdout
        warning = proc.stderr.decode()
        assert f"original {original[:8]} could not be removed: it is locked until" in warning, warning
    listed = json.loads(drkit("snapshots", "--repo", url, "--json", env=ENV).stdout)
    assert original in [s["id"] for s in listed]  # it is still there, as the output now says
