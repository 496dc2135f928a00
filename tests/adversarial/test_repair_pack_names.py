"""`drkit repair index` binds a pack's name to its content (a pack id is the BLAKE3 of the pack): a pack
renamed, copied or swapped in the store used to be indexed under the wrong name with exit 0, because its
sealed header authenticates whatever name it is stored under. It is reported as misnamed (exit 13) and still
indexed from its header (each blob is sealed for its id and verified when read): every snapshot restores
byte-identical, and a later prune does not delete the pack as an unindexed orphan."""

from __future__ import annotations

import os
from pathlib import Path

from advkit import assert_restores, backup, init, pack_files, restored, run


def _two_snapshots(tmp_path: Path) -> tuple[Path, dict[str, bytes], Path, Path]:
    repo = init(tmp_path / "repo")
    x, y = os.urandom(1 << 20), os.urandom(1 << 20)
    sx = backup(repo, x, "x")
    before = set(pack_files(repo))
    sy = backup(repo, y, "y")
    [py] = set(pack_files(repo)) - before
    [px] = before
    return repo, {sx: x, sy: y}, px, py


def _restores_exactly_or_refuses(repo: Path, sources: dict[str, bytes]) -> list[str]:
    """The snapshots that restore (byte-identical to their source); the others must exit 13."""
    good = []
    for snap, data in sources.items():
        proc = restored(repo, snap)
        if proc.returncode == 0:
            assert proc.stdout == data, f"snapshot {snap[:8]}: wrong bytes restored"
            good.append(snap)
        else:
            assert proc.returncode == 13, proc.stderr
    return good


def test_swapped_packs_are_reported_with_the_index_intact(tmp_path: Path) -> None:
    repo, sources, px, py = _two_snapshots(tmp_path)
    a, b = px.read_bytes(), py.read_bytes()
    px.write_bytes(b)
    py.write_bytes(a)
    proc = run(repo, "repair", "index")
    assert proc.returncode == 13, proc.stderr
    damaged = [ln for ln in proc.stderr.splitlines() if ln.startswith(b"damaged: ")]
    assert len(damaged) == 2 and all(b"not to its name" in ln for ln in damaged), proc.stderr
    assert b"entries kept from an intact old index object" not in proc.stderr
    assert sorted(_restores_exactly_or_refuses(repo, sources)) == sorted(sources)  # were left out: none restored
    assert run(repo, "prune", "--grace", "0").returncode == 0
    assert sorted(_restores_exactly_or_refuses(repo, sources)) == sorted(sources)


def test_renamed_pack_is_reported_with_the_index_lost(tmp_path: Path) -> None:
    repo, sources, px, py = _two_snapshots(tmp_path)
    fake = "ab" * 32
    (repo / "data" / "ab").mkdir(exist_ok=True)
    py.rename(repo / "data" / "ab" / fake)
    for obj in (repo / "index").iterdir():
        obj.unlink()
    proc = run(repo, "repair", "index")
    assert proc.returncode == 13, proc.stderr
    assert f"pack {fake}: content hashes to".encode() in proc.stderr, proc.stderr
    (sx, x), (sy, y) = sources.items()
    assert_restores(repo, sx, x)
    assert_restores(repo, sy, y)  # the misnamed pack's blobs are intact (left out, it failed with exit 13)


def test_an_intact_repository_repairs_cleanly(tmp_path: Path) -> None:
    """The binding check does not flag intact packs, with the index present or lost."""
    repo, sources, _px, _py = _two_snapshots(tmp_path)
    proc = run(repo, "repair", "index")
    assert proc.returncode == 0, proc.stderr
    for obj in (repo / "index").iterdir():
        obj.unlink()
    proc = run(repo, "repair", "index")
    assert proc.returncode == 0, proc.stderr
    assert sorted(_restores_exactly_or_refuses(repo, sources)) == sorted(sources)
    assert run(repo, "check", "--read-data").returncode == 0


def test_a_flipped_data_byte_with_the_index_lost_costs_one_file_not_the_pack(tmp_path: Path) -> None:
    """One flipped byte inside a pack's data makes it hash wrong like a misnamed one; with the index lost, repair
    index used to leave the whole pack out (and prune would delete it). Indexed from its header, only the file
    whose blob was hit is lost: `repair snapshots --read-data` drops it, and the rest restores identical."""
    import json

    from hostile_kit import backup as backup_files
    from hostile_kit import ok, open_repo, repaired_restore, same_tree
    from hostile_kit import run as run_cli

    from drkit.repository.pack import BLOB_DATA, read_entries

    repo = tmp_path / "repo"
    ok("init", "--repo", str(repo))
    src = tmp_path / "src" / "data"
    src.mkdir(parents=True)
    for i in range(6):
        (src / f"f{i}.bin").write_bytes(os.urandom(60_000))
    backup_files(repo, src)
    [pack] = pack_files(repo)
    data = bytearray(pack.read_bytes())
    hit = next(e for e in read_entries(bytes(data), open_repo(repo).cipher, pack.name) if e.type == BLOB_DATA)
    data[hit.offset + hit.length // 2] ^= 0x01  # inside one file's data blob
    pack.write_bytes(bytes(data))
    for obj in (repo / "index").iterdir():
        obj.unlink()
    assert run_cli("repair", "index", "--repo", str(repo)).returncode == 13
    proc = run_cli("repair", "snapshots", "--read-data", "--forget", "--json", "--repo", str(repo))
    assert proc.returncode == 0, proc.stderr
    [entry] = json.loads(proc.stdout)["snapshots"]
    assert entry["status"] == "repaired" and len(entry["dropped"]) == 1, entry
    times = src.stat()
    (src / entry["dropped"][0].split(":")[0].rsplit("/", 1)[-1]).unlink()  # the source as the repair keeps it
    os.utime(src, ns=(times.st_atime_ns, times.st_mtime_ns))
    repaired_restore("restore", "latest", "--target", str(tmp_path / "r"), "--repo", str(repo))  # exit 3: partial
    same_tree(src, tmp_path / "r" / "data")
