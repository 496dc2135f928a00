"""`drkit copy`: a local repository replicated into S3 (SeaweedFS), with different keys and chunker seeds.
The copy restores byte-identically and passes `check --read-data`; repeating it uploads nothing."""

from __future__ import annotations

import filecmp
import json
import os
import random
import uuid
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit, one_line_error

from drkit.ops.facts import load_facts, save_facts
from drkit.ops.secrets import PassphraseSource
from drkit.ops.session import create_repository, open_repository
from drkit.pipeline import ChunkerParams
from drkit.repository.format import RepoConfig

SRC = {"DRKIT_PASSWORD": "source-pw"}
DST = {"DRKIT_PASSWORD": "target-pw", "DRKIT_FROM_PASSWORD": "source-pw"}
pytestmark = pytest.mark.integration


def _ok(proc: Any) -> Any:
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout) if proc.stdout.strip().startswith(b"{") else proc.stdout


def _tree(root: Path) -> None:
    rnd = random.Random(11)
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.bin").write_bytes(rnd.randbytes(300_000))
    (root / "sub" / "b.txt").write_text("hello\n" * 1000)
    (root / "sub" / "deeper" / "empty").write_bytes(b"")
    os.symlink("../a.bin", root / "sub" / "link")


def _pack_count(client: Any, bucket: str, prefix: str) -> int:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/data/")
    return sum(len(page.get("Contents", [])) for page in pages)


def test_copy_local_to_s3(tmp_path: Path, seaweedfs_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seaweedfs_server.apply_env(monkeypatch)
    source = str(tmp_path / "source")
    bucket, prefix = seaweedfs_server.make_bucket("drkit-copy"), uuid.uuid4().hex[:10]
    target = seaweedfs_server.url(bucket, prefix)
    _ok(drkit("init", "--repo", source, "--pack-size-mib", "1", env=SRC))
    small = ChunkerParams(min_size=16 << 10, avg_size=64 << 10, max_size=256 << 10, seed=random.randrange(1 << 62))
    create_repository(target, _secret(tmp_path, "target-pw"), RepoConfig(chunker=small, pack_size=1 << 20)).close()
    rnd = random.Random(5)
    shared = rnd.randbytes(1 << 20)
    first, second = rnd.randbytes(700_000) + shared, shared + rnd.randbytes(500_000)
    ids = [
        _ok(drkit("backup", "stdin", "--name", "db", "--json", "--repo", source, stdin=s, env=SRC))["snapshot"]
        for s in (first, second)
    ]
    _tree(tmp_path / "tree")
    files = _ok(drkit("backup", "files", str(tmp_path / "tree"), "--json", "--repo", source, env=SRC))["snapshot"]
    src_repo = open_repository(source, _secret(tmp_path, "source-pw"))
    save_facts(src_repo, ids[1], "app-db", {"rows": 42})
    src_repo.close()

    copied = _ok(drkit("copy", "--from-repo", source, "--to-repo", target, "--json", env=DST))
    assert sorted(copied["copied"]) == sorted([*ids, files]) and copied["documents"] == 1
    assert copied["stats"]["packs"] == _pack_count(seaweedfs_server.client(), bucket, prefix) > 0

    again = _ok(drkit("copy", "--from-repo", source, "--to-repo", target, "--json", env=DST))
    assert again["copied"] == {} and again["present"] == copied["copied"] and again["documents"] == 0
    assert (
        again["stats"]["packs"] == 0
        and _pack_count(seaweedfs_server.client(), bucket, prefix) == copied["stats"]["packs"]
    )

    for src_id, data in zip(ids, (first, second), strict=True):
        restored = drkit("restore", copied["copied"][src_id][:8], "--to", "-", "--repo", target, env=DST)
        assert restored.returncode == 0 and restored.stdout == data
    out = tmp_path / "restored"
    _ok(drkit("restore", "files", copied["copied"][files][:8], "--target", str(out), "--repo", target, env=DST))
    cmp = filecmp.dircmp(tmp_path / "tree", out / "tree")
    assert not cmp.left_only and not cmp.right_only and not cmp.diff_files
    assert (out / "tree" / "sub" / "b.txt").read_bytes() == (tmp_path / "tree" / "sub" / "b.txt").read_bytes()
    assert os.readlink(out / "tree" / "sub" / "link") == "../a.bin"
    _ok(drkit("check", "--read-data", "--repo", target, env=DST))

    dst_repo = open_repository(target, _secret(tmp_path, "target-pw"))
    assert load_facts(dst_repo, copied["copied"][ids[1]]) == {"rows": 42}
    dst_repo.close()

    third = shared + rnd.randbytes(200_000)  # mostly known data: only the new part travels
    new_id = _ok(drkit("backup", "stdin", "--name", "db", "--json", "--repo", source, stdin=third, env=SRC))["snapshot"]
    delta = _ok(drkit("copy", "--from-repo", source, "--to-repo", target, "--snapshot", new_id[:8], "--json", env=DST))
    assert list(delta["copied"]) == [new_id] and 0 < delta["stats"]["new_bytes"] < len(third) * 0.6


def _secret(tmp_path: Path, value: str) -> PassphraseSource:
    path = tmp_path / f"{value}.txt"
    path.write_text(value)
    return PassphraseSource(file=path)


def test_copy_refuses_a_missing_source_passphrase(tmp_path: Path) -> None:
    repo = str(tmp_path / "a")
    _ok(drkit("init", "--repo", repo, env=SRC))
    proc = drkit("copy", "--from-repo", repo, "--to-repo", str(tmp_path / "b"), env=SRC)
    assert proc.returncode == 12
    assert "DRKIT_FROM_PASSWORD" in one_line_error(proc)
