"""`drkit repair index` (issue 20): lost or damaged index objects made every restore fail, intact data
included, and nothing could rebuild them. The index is rebuilt from the packs' sealed headers; then
`check --read-data` passes and every snapshot restores byte-identical (oracles: the source bytes, and
rsync --checksum for a files snapshot)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from advkit import assert_restores, backup, init, pack_files, restored, run, start_backup
from hostile_kit import same_tree


class Repo:
    """A repository with stream snapshots (sharing data) and a files snapshot, and their sources."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = init(tmp_path / "repo")
        self.tmp = tmp_path
        a, b = os.urandom(2 << 20), os.urandom(1 << 20)
        self.streams = {
            backup(self.path, a, "a"): a,
            backup(self.path, a + b, "ab"): a + b,
            backup(self.path, b"", "empty"): b"",
        }
        self.src = tmp_path / "src"
        (self.src / "sub").mkdir(parents=True)
        (self.src / "sub" / "big").write_bytes(os.urandom(300_000))
        (self.src / "small").write_text("hello\n")
        proc = run(self.path, "backup", "files", str(self.src), "--json")
        assert proc.returncode == 0, proc.stderr
        self.files_snap = json.loads(proc.stdout)["snapshot"]

    def index_objects(self) -> list[Path]:
        return sorted(p for p in (self.path / "index").iterdir() if not p.name.startswith("."))

    def assert_all_restore(self) -> None:
        for snap, source in self.streams.items():
            assert_restores(self.path, snap, source)
        target = self.tmp / f"restored-{len(list(self.tmp.iterdir()))}"
        proc = run(self.path, "restore", "files", self.files_snap, "--target", str(target))
        assert proc.returncode == 0, proc.stderr
        same_tree(self.src, target / self.src.name)

    def repair_and_verify(self) -> None:
        proc = run(self.path, "repair", "index")
        assert proc.returncode == 0, proc.stderr
        check = run(self.path, "check", "--read-data")
        assert check.returncode == 0, check.stdout + check.stderr
        self.assert_all_restore()


def test_every_index_object_lost(tmp_path: Path) -> None:
    repo = Repo(tmp_path)
    for obj in repo.index_objects():
        obj.unlink()
    broken = restored(repo.path, next(iter(repo.streams)))
    assert broken.returncode == 13  # the fault is real
    repo.repair_and_verify()


def test_damaged_index_object(tmp_path: Path) -> None:
    repo = Repo(tmp_path)
    damaged = repo.index_objects()[0]
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    assert run(repo.path, "check").returncode == 13
    repo.repair_and_verify()
    assert not damaged.exists(), "the damaged index object is still there"


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    repo = Repo(tmp_path)
    before = repo.index_objects()
    proc = run(repo.path, "repair", "index", "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["dry_run"] and len(report["removed"]) == len(before) and report["written"]
    assert repo.index_objects() == before


def test_repair_waits_for_no_backup(tmp_path: Path) -> None:
    """The rebuild removes index objects: it takes an exclusive lock, so it never runs beside a backup."""
    path = init(tmp_path / "repo")
    proc = start_backup(path, "x")
    try:
        repair = run(path, "repair", "index")
        assert repair.returncode == 11, repair.stderr
    finally:
        proc.communicate(b"data", timeout=120)
    assert proc.returncode == 0


def _damage_header(pack: Path) -> None:
    data = bytearray(pack.read_bytes())
    data[-10] ^= 0xFF  # inside the sealed header, before the 4-byte trailer
    pack.write_bytes(bytes(data))


def test_damaged_pack_header(tmp_path: Path) -> None:
    """A pack whose header fails authentication: with an intact index its entries are kept (the blobs
    are intact and still restore); with the index lost too it is left out, and only the snapshots
    that need it fail. Either way the repair exits 13: damage was found."""
    repo = init(tmp_path / "repo")
    x, y = os.urandom(1 << 20), os.urandom(1 << 20)
    sx = backup(repo, x, "x")
    before = set(pack_files(repo))
    sy = backup(repo, y, "y")
    [py] = set(pack_files(repo)) - before
    _damage_header(py)

    kept = run(repo, "repair", "index")
    assert kept.returncode == 13, kept.stderr
    assert b"entries kept from an intact old index object" in kept.stderr
    assert_restores(repo, sx, x)
    assert_restores(repo, sy, y)  # the blobs were intact

    for obj in (repo / "index").iterdir():
        obj.unlink()
    lost = run(repo, "repair", "index")
    assert lost.returncode == 13 and b"index rebuilt; 1 damaged or misnamed packs" in lost.stderr
    assert_restores(repo, sx, x)
    assert restored(repo, sy).returncode == 13
    assert run(repo, "check").returncode == 13


def test_repair_leaves_pending_prune_marks_to_prune(tmp_path: Path) -> None:
    """Packs a prune marked (grace not over) stay pending: the repair keeps their pending index object,
    and a later prune still deletes them; the kept snapshot restores throughout."""
    repo = init(tmp_path / "repo")
    old, keep = os.urandom(1 << 20), os.urandom(1 << 20)
    backup(repo, old, "old")
    kept = backup(repo, keep, "keep", "keep")
    assert run(repo, "forget", "--keep-tag", "keep").returncode == 0
    marked = run(repo, "prune")  # marks the pack of "old"; deletes it only after the grace delay
    assert marked.returncode == 0, marked.stderr
    packs = len(pack_files(repo))

    proc = run(repo, "repair", "index", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["pending_packs"] == 1
    assert run(repo, "check", "--read-data").returncode == 0
    assert_restores(repo, kept, keep)

    settled = run(repo, "prune", "--grace", "0")
    assert settled.returncode == 0, settled.stderr
    assert len(pack_files(repo)) == packs - 1
    assert run(repo, "check", "--read-data").returncode == 0
    assert_restores(repo, kept, keep)


def test_junk_under_data_is_reported_not_indexed(tmp_path: Path) -> None:
    """A copy of a real pack under a name that is no pack id (its header authenticates: written with
    the key, by someone with write access only) and plain junk: reported, never indexed, no crash."""
    repo = Repo(tmp_path)
    real = pack_files(repo.path)[0]
    (repo.path / "data" / "zz").mkdir()
    shutil.copy(real, repo.path / "data" / "zz" / "copy-of-a-pack")
    (repo.path / "data" / "zz" / ("ab" * 32)).write_bytes(b"junk")
    proc = run(repo.path, "repair", "index")
    assert proc.returncode == 13 and b"Traceback" not in proc.stderr, proc.stderr
    assert b"not a pack name" in proc.stderr
    repo.assert_all_restore()


def test_read_data_keeps_a_damaged_header_pack_an_old_index_lists(tmp_path: Path) -> None:
    """rev5: `repair index --read-data` (the way out `check --read-data` names) left a pack whose header
    is damaged out of the index although an intact old index object lists it: its intact blobs went
    missing and the next prune deleted the pack as an orphan. Its blobs are now verified from the old
    index's entries, as the plain repair keeps them unverified."""
    repo = init(tmp_path / "repo")
    x, y = os.urandom(1 << 20), os.urandom(1 << 20)
    sx = backup(repo, x, "x")
    before = set(pack_files(repo))
    sy = backup(repo, y, "y")
    [py] = set(pack_files(repo)) - before
    _damage_header(py)

    repaired = run(repo, "repair", "index", "--read-data")
    assert repaired.returncode == 13, repaired.stderr  # damage was found: the header
    assert b"entries kept from an intact old index object" in repaired.stderr, repaired.stderr
    assert_restores(repo, sx, x)
    assert_restores(repo, sy, y)  # the blobs were intact (oracle: the source bytes)


def test_read_data_drops_a_damaged_blob_of_a_damaged_header_pack(tmp_path: Path) -> None:
    """rev5: the old index's entries of a pack whose header is damaged are verified with --read-data: a
    blob that fails is left out (named as dropped), and a new backup of the same data heals the snapshot."""
    repo = init(tmp_path / "repo")
    x, y = os.urandom(1 << 20), os.urandom(1 << 20)
    sx = backup(repo, x, "x")
    before = set(pack_files(repo))
    sy = backup(repo, y, "y")
    [py] = set(pack_files(repo)) - before
    _damage_header(py)
    data = bytearray(py.read_bytes())
    data[100] ^= 0xFF  # inside the first blob
    py.write_bytes(bytes(data))

    repaired = run(repo, "repair", "index", "--read-data")
    assert repaired.returncode == 13, repaired.stderr
    assert b"dropped: blob " in repaired.stderr and b"entries kept from" in repaired.stderr, repaired.stderr
    assert_restores(repo, sx, x)
    assert restored(repo, sy).returncode == 13  # the damaged blob is no longer indexed: refused, not wrong bytes
    healed = backup(repo, y, "y")  # stores the dropped blob anew
    assert_restores(repo, healed, y)
    assert_restores(repo, sy, y)
