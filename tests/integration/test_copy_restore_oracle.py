"""`drkit copy` into a local, S3 (SeaweedFS) or GCS (fake-gcs-server) repository, then restore from
the copy, checked by oracles outside drkit: each files snapshot restores equal to the tree it was
taken of (rsync -aHAXS --checksum --itemize-changes prints nothing: content, modes, owners, times,
hard links, symlinks, xattrs, ACLs, special files), and a stream snapshot to the sha256 of its input.
Two snapshots of different trees of the same layout are copied, and each copy is restored by the id
copy reported for it: a copy that mixed up snapshots, or restored one from the other's data, fails.
Before this test, copy-then-restore was checked by rsync only into S3 (test_files_oracle) and by
`filecmp.dircmp` (size and mtime, top level only: test_copy), and no test restored a files snapshot
from a GCS repository."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit
from test_files_oracle import NEEDS, assert_same, make_tree

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(None in NEEDS, reason="needs rsync and setfacl (scripts/install.sh: rsync, acl)"),
]

SOURCE = {"DRKIT_PASSWORD": "copy-oracle-source"}
TARGET = {"DRKIT_PASSWORD": "copy-oracle-target", "DRKIT_FROM_PASSWORD": "copy-oracle-source"}


def _ok(proc: Any) -> Any:
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout) if proc.stdout.strip().startswith((b"{", b"[")) else proc.stdout


@pytest.fixture(params=["local", "s3", "gcs"])
def target_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    prefix = f"copy-{uuid.uuid4().hex[:10]}"
    if request.param == "local":
        yield str(tmp_path / "target")
    elif request.param == "s3":
        server = request.getfixturevalue("seaweedfs_server")
        server.apply_env(monkeypatch)
        yield str(server.url(server.make_bucket("drkit-copy-oracle"), prefix))
    else:
        server = request.getfixturevalue("fakegcs_server")
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.endpoint)
        yield f"gs://{server.make_bucket('drkit-copy-oracle')}/{prefix}?project={server.project}"


def test_copied_snapshots_restore_equal_to_their_sources(tmp_path: Path, target_url: str) -> None:
    source = str(tmp_path / "source")
    _ok(drkit("init", "--repo", source, "--pack-size-mib", "1", env=SOURCE))
    _ok(drkit("init", "--repo", target_url, env=TARGET))
    trees = [make_tree(tmp_path / name) for name in ("first", "second")]  # same names, other random bytes
    files = [
        _ok(drkit("backup", "files", str(tree), "--json", "--quiet", "--repo", source, env=SOURCE))["snapshot"]
        for tree in trees
    ]
    stream = os.urandom(3 << 20)
    stdin_id = _ok(drkit("backup", "stdin", "--name", "db.dump", "--json", "--repo", source, stdin=stream, env=SOURCE))
    copied = _ok(drkit("copy", "--from-repo", source, "--to-repo", target_url, "--json", env=TARGET))["copied"]
    assert sorted(copied) == sorted([*files, stdin_id["snapshot"]])

    for tree, snap in zip(trees, files, strict=True):
        out = tmp_path / f"out-{snap[:8]}"
        restore = ("restore", "files", copied[snap][:12], "--target", str(out), "--special-files")
        _ok(drkit(*restore, "--repo", target_url, env=TARGET))
        assert_same(tree, out / "src")

    to = tmp_path / "stream.out"
    _ok(drkit("restore", copied[stdin_id["snapshot"]][:12], "--to", str(to), "--repo", target_url, env=TARGET))
    assert hashlib.sha256(to.read_bytes()).hexdigest() == hashlib.sha256(stream).hexdigest()
