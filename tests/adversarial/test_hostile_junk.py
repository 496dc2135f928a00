"""Junk and damaged objects under index/, snapshots/ and manifests/ (someone with write access to the
bucket, no key): every command that can go on without them skips them with a warning, restores of intact
data stay byte-identical, `check` reports each one (exit 13); objects far over their kind's size are
refused before they are read whole."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from crafting import JUNK, JUNK_KEYS, plant_sparse
from hostile_kit import backup, ok, one_line, plant, run, run_measured, same_tree


def _sources(tmp_path: Path) -> tuple[Path, Path]:
    one, two = tmp_path / "one", tmp_path / "two"
    for i, src in enumerate((one, two)):
        (src / "sub").mkdir(parents=True)
        (src / "a.txt").write_text(f"tree {i}\n" * 100)
        (src / "sub" / "b.bin").write_bytes(os.urandom(200_000))
        os.chmod(src / "sub" / "b.bin", 0o640)
    return one, two


def _restore(repo: Path, snap: str, target: Path, *filters: str) -> None:
    ok("restore", snap, "--target", str(target), "--repo", str(repo), *filters)


def test_junk_objects_skipped_by_every_command(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    one, two = _sources(tmp_path)
    ok("init", "--repo", str(repo))
    first = backup(repo, one)
    for key in JUNK_KEYS:
        plant(repo, key, JUNK)
    proc = run("snapshots", "--repo", str(repo))
    assert proc.returncode == 0 and first[:8] in proc.stdout, proc.stderr
    assert "skipped" in proc.stderr
    second = backup(repo, two)
    _restore(repo, first, tmp_path / "r1")
    same_tree(one, tmp_path / "r1" / "one")
    _restore(repo, "latest", tmp_path / "r2", "--path", str(two))  # of one source: `one` is another
    same_tree(two, tmp_path / "r2" / "two")
    ok("forget", "--keep-last", "5", "--repo", str(repo))
    ok("prune", "--repo", str(repo))
    _restore(repo, second, tmp_path / "r3")
    same_tree(two, tmp_path / "r3" / "two")
    line = one_line(run("check", "--repo", str(repo)), 13)
    assert "5" in line or "error" in line
    report = run("check", "--repo", str(repo)).stdout + run("check", "--repo", str(repo)).stderr
    for key in JUNK_KEYS:
        assert key.rsplit("/", 1)[-1][:16] in report, (key, report)


def test_damaged_index_object_leaves_other_snapshots_restorable(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    one, two = _sources(tmp_path)
    ok("init", "--repo", str(repo))
    first = backup(repo, one)
    (first_index,) = (repo / "index").iterdir()
    second = backup(repo, two)
    data = bytearray(first_index.read_bytes())
    data[len(data) // 2] ^= 0x01
    first_index.write_bytes(bytes(data))
    _restore(repo, second, tmp_path / "r2")
    same_tree(two, tmp_path / "r2" / "two")
    assert "not in the index" in one_line(
        run("restore", first, "--target", str(tmp_path / "r1"), "--repo", str(repo)), 13
    )
    assert (
        first_index.name[:16]
        in one_line(run("check", "--repo", str(repo)), 13) + run("check", "--repo", str(repo)).stdout
    )


def test_huge_junk_objects_are_not_read_whole(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    one, _ = _sources(tmp_path)
    ok("init", "--repo", str(repo))
    first = backup(repo, one)
    for key in ("index/" + "f" * 64, "snapshots/" + "f" * 64):
        plant_sparse(repo, key, 300 << 20)  # 300 MB to read, no disk space used
    proc, peak_kib = run_measured("restore", first, "--target", str(tmp_path / "r1"), "--repo", str(repo))
    assert proc.returncode == 0, proc.stderr
    same_tree(one, tmp_path / "r1" / "one")
    assert peak_kib < 200 * 1024, f"peak RSS {peak_kib} KiB: a 300 MB junk object was read whole"


def test_prune_keeps_packs_a_damaged_index_object_names(tmp_path: Path) -> None:
    """A skipped index object's packs look unindexed: prune must not take them for orphans and delete them."""
    repo = tmp_path / "repo"
    one, two = _sources(tmp_path)
    ok("init", "--repo", str(repo))
    first = backup(repo, one)
    (index,) = (repo / "index").iterdir()
    packs = {p.name for p in (repo / "data").rglob("*") if p.is_file()}
    second = backup(repo, two)
    good = index.read_bytes()
    index.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    (repo / "snapshots" / first).unlink()  # nothing needs its packs now, as far as prune can tell
    proc = run("prune", "--repo", str(repo), "--orphan-age", "0", "--grace", "0")
    assert proc.returncode == 0, proc.stderr
    assert packs <= {p.name for p in (repo / "data").rglob("*") if p.is_file()}
    assert index.exists()  # not retired either
    _restore(repo, second, tmp_path / "r2")
    same_tree(two, tmp_path / "r2" / "two")


def test_junk_objects_skipped_on_s3(seaweedfs_server: Any, tmp_path: Path) -> None:
    """The same on an S3 store (SeaweedFS): objects planted through the S3 API, read through boto3's streams."""
    bucket, prefix = seaweedfs_server.make_bucket("drkit-hostile"), f"junk-{uuid.uuid4().hex[:8]}"
    url = seaweedfs_server.url(bucket, prefix)
    env = seaweedfs_server.env()
    one, _ = _sources(tmp_path)
    assert run("init", "--repo", url, env=env).returncode == 0
    first = json.loads(run("backup", "files", str(one), "--repo", url, "--json", env=env).stdout)["snapshot"]
    client = seaweedfs_server.client()
    for key in JUNK_KEYS:
        client.put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=JUNK)
    proc = run("restore", first, "--target", str(tmp_path / "r1"), "--repo", url, env=env)
    assert proc.returncode == 0, proc.stderr
    same_tree(one, tmp_path / "r1" / "one")
    proc = run("check", "--repo", url, env=env)
    assert proc.returncode == 13 and "a" * 16 in proc.stdout + proc.stderr, proc.stderr
