"""A pack with one flipped byte inside a blob (issue 20) keeps its size, so backups deduplicated into the
damaged blob and exited 0 with snapshots that fail to restore (exit 13), and nothing healed it: `repair index`
indexed the pack wholly from its sealed header. Now `repair index` verifies each blob of a pack it reads
whole (every pack with `--read-data`; any pack no intact old index object vouches for) and leaves the
damaged blobs out of the index, naming them (exit 13). The next backup of the same data stores them anew,
and both the new and the old snapshot restore identical to the source (oracle: rsync --checksum)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from advkit import init, pack_files, run
from hostile_kit import same_tree


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for i in range(3):
        (src / f"f{i}").write_bytes(os.urandom(300_000))
    (src / "sub" / "small").write_bytes(b"small file\n")
    return src


def _backup_files(repo: Path, src: Path) -> str:
    proc = run(repo, "backup", "files", str(src), "--json")
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["snapshot"])


def _flip_byte_in_a_blob(repo: Path) -> Path:
    """Flip the byte at offset 1000 of the largest pack: inside its first blob (blobs start at offset 0,
    and the data blobs of 300 kB random files are far larger than 1000 bytes)."""
    pack = max(pack_files(repo), key=lambda p: p.stat().st_size)
    with open(pack, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0x01]))
    return pack


def _restores_as(repo: Path, snap: str, src: Path, target: Path) -> subprocess.CompletedProcess[bytes]:
    proc = run(repo, "restore", snap, "--target", str(target))
    if proc.returncode == 0:
        same_tree(src, target / src.name)
    return proc


def _dropped(proc: subprocess.CompletedProcess[bytes]) -> list[str]:
    return [ln for ln in proc.stderr.decode().splitlines() if ln.startswith("dropped: blob ")]


def test_repair_index_read_data_drops_a_damaged_blob_and_a_new_backup_heals(tmp_path: Path) -> None:
    repo, src = init(tmp_path / "repo"), _source(tmp_path)
    first = _backup_files(repo, src)
    pack = _flip_byte_in_a_blob(repo)

    checked = run(repo, "check", "--read-data")
    assert checked.returncode == 13, checked.stderr
    assert b"drkit repair index --read-data" in checked.stderr, checked.stderr  # the hint names the way out

    # Without --read-data the old index vouches for the pack (same size, same header): nothing is read.
    assert run(repo, "repair", "index").returncode == 0
    repaired = run(repo, "repair", "index", "--read-data")
    assert repaired.returncode == 13, repaired.stderr
    [line] = _dropped(repaired)
    assert pack.name in line and "fails authentication (damaged pack)" in line, repaired.stderr
    assert b"1 of " in repaired.stderr and b"left out of the index" in repaired.stderr

    second = _backup_files(repo, src)  # the dropped blob is stored anew
    assert _restores_as(repo, second, src, tmp_path / "new").returncode == 0
    assert run(repo, "restore", "latest", "--target", str(tmp_path / "latest")).returncode == 0
    same_tree(src, tmp_path / "latest" / src.name)
    # The old snapshot references the blob by its id, which the index now finds in the new pack: it heals too.
    assert _restores_as(repo, first, src, tmp_path / "old").returncode == 0

    # The damaged pack itself is still stored and still fails its hash: check keeps reporting it (exit 13)
    # until a prune repacks its intact blobs and deletes it.
    still = run(repo, "check", "--read-data")
    assert still.returncode == 13 and f"pack {pack.name}: content does not match".encode() in still.stderr
    pruned = run(repo, "prune", "--grace", "0", "--repack-below", "1")
    assert pruned.returncode == 0, pruned.stderr
    assert not pack.exists()
    clean = run(repo, "check", "--read-data")
    assert clean.returncode == 0, clean.stderr
    for snap, where in ((first, "old2"), (second, "new2")):
        assert _restores_as(repo, snap, src, tmp_path / where).returncode == 0


def test_repair_index_with_the_index_lost_drops_the_damaged_blob(tmp_path: Path) -> None:
    """With the index lost no old index object vouches for the pack: it is read whole, hashed and each
    blob verified, without --read-data. Before, it was indexed wholly (damaged blob included)."""
    repo, src = init(tmp_path / "repo"), _source(tmp_path)
    _backup_files(repo, src)
    pack = _flip_byte_in_a_blob(repo)
    for obj in (repo / "index").iterdir():
        obj.unlink()
    repaired = run(repo, "repair", "index")
    assert repaired.returncode == 13, repaired.stderr
    assert f"pack {pack.name}: content hashes to".encode() in repaired.stderr, repaired.stderr
    assert len(_dropped(repaired)) == 1, repaired.stderr
    second = _backup_files(repo, src)
    assert _restores_as(repo, second, src, tmp_path / "new").returncode == 0


def test_a_renamed_intact_pack_drops_nothing(tmp_path: Path) -> None:
    """A pack under a wrong name whose blobs all verify keeps all of them indexed (the misnamed case)."""
    repo, src = init(tmp_path / "repo"), _source(tmp_path)
    first = _backup_files(repo, src)
    pack = max(pack_files(repo), key=lambda p: p.stat().st_size)
    fake = "ab" * 32
    (repo / "data" / "ab").mkdir(exist_ok=True)
    pack.rename(repo / "data" / "ab" / fake)
    repaired = run(repo, "repair", "index", "--read-data")
    assert repaired.returncode == 13, repaired.stderr
    assert b"every blob verifies" in repaired.stderr and _dropped(repaired) == [], repaired.stderr
    assert _restores_as(repo, first, src, tmp_path / "out").returncode == 0
