"""`drkit repair snapshots` (issues 20 and 26): a snapshot whose data is partly lost could only fail
every restore. A files snapshot gets a new snapshot without the damaged files (dropped whole, never
truncated), tagged `repaired`, naming its original; what it keeps restores identical to the source
(rsync -aHAXS --checksum, not drkit's metadata). A stream snapshot cannot be repaired: reported,
left as it is, exit 13."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from hostile_kit import DRKIT, ENV, ok, open_repo, repaired_restore, run, same_tree

PACK_MIB = "1"


def _files_repo(tmp_path: Path) -> tuple[Path, Path, str]:
    repo, src = tmp_path / "repo", tmp_path / "src" / "data"
    ok("init", "--repo", str(repo), "--pack-size-mib", PACK_MIB)
    (src / "keep" / "deep").mkdir(parents=True)
    (src / "lost").mkdir()
    for i in range(5):
        (src / "keep" / f"f{i}.txt").write_text(f"kept file {i}\n" * 200)
    (src / "keep" / "deep" / "g.bin").write_bytes(os.urandom(100_000))
    (src / "lost" / "big.bin").write_bytes(os.urandom(6 << 20))  # spans packs of its own
    (src / "lost" / "small.txt").write_text("a neighbour of the damaged file\n")
    snap = json.loads(ok("backup", "files", str(src), "--repo", str(repo), "--json"))["snapshot"]
    return repo, src, str(snap)


def _data_only_pack(repo_path: Path, avoid: list[bytes]) -> Path:
    """A pack holding data blobs only, none of them one of ``avoid``."""
    from drkit.repository.pack import BLOB_DATA, read_entries

    repo = open_repo(repo_path)
    for pack in sorted(p for p in (repo_path / "data").rglob("*") if p.is_file()):
        entries = read_entries(pack.read_bytes(), repo.cipher, pack.name)
        if all(e.type == BLOB_DATA and e.id not in avoid for e in entries):
            return pack
    raise AssertionError("no data-only pack")


def _lose_big_file_pack(repo: Path, src: Path) -> None:
    from hostile_kit import blob_hex

    small = [p for p in src.rglob("*") if p.is_file() and p.stat().st_size < 200_000]
    avoid = [bytes.fromhex(blob_hex(repo, p.read_bytes())) for p in small]
    _data_only_pack(repo, avoid).unlink()


def _expected(src: Path, tmp_path: Path) -> Path:
    """The source without the damaged file: what the repaired snapshot must restore."""
    want = tmp_path / "want" / src.name
    shutil.copytree(src, want, symlinks=True)
    (want / "lost" / "big.bin").unlink()
    shutil.copystat(src / "lost", want / "lost")
    return want


def test_files_snapshot_repaired_without_the_damaged_file(tmp_path: Path) -> None:
    repo, src, original = _files_repo(tmp_path)
    _lose_big_file_pack(repo, src)
    assert run("restore", original, "--target", str(tmp_path / "broken"), "--repo", str(repo)).returncode == 13
    ok("repair", "index", "--repo", str(repo))  # the order the docs give: the index first

    dry = run("repair", "snapshots", "--dry-run", "--json", "--repo", str(repo))
    assert dry.returncode == 0, dry.stderr
    [entry] = json.loads(dry.stdout)["snapshots"]
    assert entry["status"] == "repaired" and [d.split(":")[0] for d in entry["dropped"]] == ["/data/lost/big.bin"]
    assert len(list((repo / "snapshots").iterdir())) == 1  # nothing written

    proc = run("repair", "snapshots", "--forget", "--repo", str(repo))
    assert proc.returncode == 0, proc.stderr
    assert "dropped /data/lost/big.bin" in proc.stdout
    [snap] = json.loads(ok("snapshots", "--json", "--repo", str(repo)))
    assert snap["id"] != original and "repaired" in snap["tags"], snap
    restored = tmp_path / "restored"
    repaired_restore("restore", snap["id"], "--target", str(restored), "--repo", str(repo))
    want = _expected(src, tmp_path)
    same_tree(want, restored / src.name)
    assert run("check", "--read-data", "--repo", str(repo)).returncode == 0
    assert run("prune", "--grace", "0", "--repo", str(repo)).returncode == 0
    repaired_restore("restore", "latest", "--target", str(tmp_path / "after-prune"), "--repo", str(repo))
    same_tree(want, tmp_path / "after-prune" / src.name)
    again = run("repair", "snapshots", "--json", "--repo", str(repo))
    assert [s["status"] for s in json.loads(again.stdout)["snapshots"]] == ["intact"]


def test_repaired_snapshot_names_its_original(tmp_path: Path) -> None:
    repo, src, original = _files_repo(tmp_path)
    _lose_big_file_pack(repo, src)
    proc = run("repair", "snapshots", original[:8], "--json", "--repo", str(repo))
    assert proc.returncode == 0, proc.stderr
    new_id = json.loads(proc.stdout)["snapshots"][0]["new_id"]
    from drkit.repository import snapshots

    new = snapshots.find(open_repo(repo).manifests, new_id)
    assert new.meta["repaired_from"] == original and new.meta["repair_dropped_count"] == 1
    assert {s["id"] for s in json.loads(ok("snapshots", "--json", "--repo", str(repo)))} == {original, new_id}
    again = run("repair", "snapshots", "--json", "--repo", str(repo))  # the original kept: repaired once, not twice
    assert again.returncode == 0, again.stderr
    assert {s["id"]: s["new_id"] for s in json.loads(again.stdout)["snapshots"]}[original] == new_id
    assert {s["id"] for s in json.loads(ok("snapshots", "--json", "--repo", str(repo)))} == {original, new_id}


def test_stream_snapshot_is_reported_and_left(tmp_path: Path) -> None:
    import subprocess

    repo = tmp_path / "repo"
    ok("init", "--repo", str(repo), "--pack-size-mib", PACK_MIB)
    data = os.urandom(4 << 20)
    proc = subprocess.run(
        [*DRKIT, "backup", "stdin", "--name", "dump", "--repo", str(repo), "--json"],
        input=data,
        capture_output=True,
        env={**os.environ, **ENV},
        check=True,
    )
    snap = json.loads(proc.stdout)["snapshot"]
    _data_only_pack(repo, []).unlink()
    proc = run("repair", "snapshots", "--forget", "--repo", str(repo))
    assert proc.returncode == 13, proc.stderr
    assert f"unrepairable {snap[:8]}" in proc.stderr and "stream snapshot cannot be repaired" in proc.stderr
    assert [p.name for p in (repo / "snapshots").iterdir()] == [snap]  # left as it is, even with --forget


def test_a_directory_whose_tree_is_missing_is_dropped(tmp_path: Path) -> None:
    from hostile_kit import blob_hex, plant_snapshot

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
    original = plant_snapshot(repo, [root, empty])
    proc = run("repair", "snapshots", "--json", "--repo", str(repo))
    assert proc.returncode == 0, proc.stderr
    [entry] = [s for s in json.loads(proc.stdout)["snapshots"] if s["id"] == original]
    assert [d.split(":")[0] for d in entry["dropped"]] == ["/gone/"], entry
    target = tmp_path / "r"
    repaired_restore("restore", entry["new_id"], "--target", str(target), "--repo", str(repo))
    assert sorted(p.name for p in target.rglob("*")) == ["empty"]


def test_read_data_finds_a_flipped_byte_inside_a_stored_pack(tmp_path: Path) -> None:
    from hostile_kit import blob_hex

    repo, src, _original = _files_repo(tmp_path)
    small = [p for p in src.rglob("*") if p.is_file() and p.stat().st_size < 200_000]
    pack = _data_only_pack(repo, [bytes.fromhex(blob_hex(repo, p.read_bytes())) for p in small])
    data = bytearray(pack.read_bytes())
    data[100] ^= 0x01  # inside the first sealed blob: the pack is stored at its size, its header intact
    pack.write_bytes(bytes(data))
    quick = run("repair", "snapshots", "--dry-run", "--json", "--repo", str(repo))
    assert [s["status"] for s in json.loads(quick.stdout)["snapshots"]] == ["intact"]  # sizes alone cannot tell
    proc = run("repair", "snapshots", "--read-data", "--json", "--repo", str(repo))
    assert proc.returncode == 0, proc.stderr
    [entry] = json.loads(proc.stdout)["snapshots"]
    assert [d.split(":")[0] for d in entry["dropped"]] == ["/data/lost/big.bin"], entry
    repaired_restore("restore", entry["new_id"], "--target", str(tmp_path / "r"), "--repo", str(repo))
    same_tree(_expected(src, tmp_path), tmp_path / "r" / src.name)


def test_a_deep_tree_is_repaired_without_recursion(tmp_path: Path) -> None:
    """400 directory levels (deeper than a recursive walk survives): the damaged file at the bottom
    is dropped, every level above it rebuilt, the rest restores identical."""
    repo, root = tmp_path / "repo", tmp_path / "src" / "deep"
    ok("init", "--repo", str(repo), "--pack-size-mib", PACK_MIB)
    bottom = root.joinpath(*(["d"] * 400))
    bottom.mkdir(parents=True)
    (bottom / "big.bin").write_bytes(os.urandom(4 << 20))
    (bottom / "note.txt").write_text("stays\n")
    ok("backup", "files", str(root), "--repo", str(repo))
    from hostile_kit import blob_hex

    _data_only_pack(repo, [bytes.fromhex(blob_hex(repo, (bottom / "note.txt").read_bytes()))]).unlink()
    proc = run("repair", "snapshots", "--json", "--repo", str(repo))
    assert proc.returncode == 0, proc.stderr
    [entry] = json.loads(proc.stdout)["snapshots"]
    assert [d.split(":")[0] for d in entry["dropped"]] == ["/deep/" + "d/" * 400 + "big.bin"]
    st = os.stat(bottom)
    (bottom / "big.bin").unlink()  # the source as the repaired snapshot must give it back
    os.utime(bottom, ns=(st.st_atime_ns, st.st_mtime_ns))
    restored = tmp_path / "r"
    repaired_restore("restore", entry["new_id"], "--target", str(restored), "--repo", str(repo))
    same_tree(root, restored / "deep")
