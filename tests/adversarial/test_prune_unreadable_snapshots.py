"""Prune with snapshots it cannot read. A listing skips an unreadable snapshot (damaged, or sealed with a
key this passphrase does not hold); prune must then delete nothing, or the data of that snapshot (and of
every snapshot that deduplicated into the same packs) is gone. The case that makes it real: a repository
whose key was rotated by the previous release (key objects without a MAC, so their generation is not
trusted) in a bucket under Object Lock (the old key objects stay), pruned with a passphrase that rotation
retired: every snapshot written since is unreadable to it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hostile_kit import backup, ok, run, same_tree

RETIRED = "retired passphrase"


def _as_previous_release(repo: Path) -> None:
    """Rewrite every key object as the previous release wrote it: no version, no MAC (same seal)."""
    for path in (repo / "keys").iterdir():
        doc = json.loads(path.read_bytes())
        doc.pop("mac", None), doc.pop("version", None)
        if not doc.get("generation"):
            doc.pop("generation", None)
        path.write_bytes(json.dumps(doc, sort_keys=True).encode())


def test_prune_deletes_nothing_a_skipped_snapshot_may_need(tmp_path: Path) -> None:
    repo, src = tmp_path / "repo", tmp_path / "src"
    src.mkdir()
    (src / "f.bin").write_bytes(os.urandom(300_000))
    ok("init", "--repo", str(repo))
    own = {p.name for p in (repo / "keys").iterdir()}
    (tmp_path / "pw").write_text(RETIRED + "\n")
    ok("key", "add", "--repo", str(repo), "--new-password-file", str(tmp_path / "pw"))
    first = backup(repo, src)
    kept = {p.name: p.read_bytes() for p in (repo / "keys").iterdir() if p.name not in own}
    ok("key", "rotate", "--repo", str(repo))
    for name, data in kept.items():  # under Object Lock the retired key object stays
        (repo / "keys" / name).write_bytes(data)
    _as_previous_release(repo)
    second = backup(repo, src)  # sealed with the new key; its data deduplicated into the first's packs
    (repo / "snapshots" / first).unlink()  # as a forget of the first would
    proc = run("prune", "--repo", str(repo), "--grace", "0", env={"DRKIT_PASSWORD": RETIRED})
    if proc.returncode == 0:  # the retired passphrase was let in: the snapshot it cannot read must stay whole
        assert "unreadable" in proc.stdout + proc.stderr
    ok("restore", second, "--target", str(tmp_path / "out"), "--repo", str(repo))
    same_tree(src, tmp_path / "out" / "src")


def test_prune_keeps_the_packs_of_a_damaged_snapshot(tmp_path: Path) -> None:
    """The same without keys: a damaged snapshot object (its blobs may still be salvaged) keeps every pack."""
    repo, src = tmp_path / "repo", tmp_path / "src"
    src.mkdir()
    (src / "f.bin").write_bytes(os.urandom(100_000))
    ok("init", "--repo", str(repo))
    snap = backup(repo, src)
    packs = {p.name for p in (repo / "data").rglob("*") if p.is_file()}
    path = repo / "snapshots" / snap
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    proc = run("prune", "--repo", str(repo), "--grace", "0")
    assert proc.returncode == 0, proc.stderr
    assert "unreadable" in proc.stdout
    assert packs <= {p.name for p in (repo / "data").rglob("*") if p.is_file()}, "a damaged snapshot's packs deleted"
