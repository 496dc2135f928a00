"""A pack `repair index` kept although damaged, that forgets have since left mostly dead, with a live blob that
fails verification: prune's live-fraction rule repacked it without the check `repack_requests.unverified` makes,
so the repack met the failing blob and the whole prune failed (exit 13), every run, freeing nothing. It is kept
and named, as a mostly live one is, and the rest of the prune goes on. A requested pack gone from the storage is
named too, not a prune failure."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from advkit import init, pack_files, run
from test_prune_rewrites_damaged_packs import _flip

from drkit.repository.pack import TRAILER_SIZE


def _snapshot(repo: Path, path: Path) -> str:
    proc = run(repo, "backup", "files", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["snapshot"])


def _repaired_repo(tmp_path: Path) -> tuple[Path, Path, str]:
    """Three one-chunk files in one pack whose header is damaged, kept by `repair index` (a repack request);
    returns the repository, the pack and the first snapshot."""
    repo, src = init(tmp_path / "repo"), tmp_path / "src"
    src.mkdir()
    for i in range(3):  # each below the chunker's minimum: one blob a file
        (src / f"f{i}").write_bytes(os.urandom(200_000))
    first = _snapshot(repo, src)
    pack = max(pack_files(repo), key=lambda p: p.stat().st_size)
    _flip(pack, pack.stat().st_size - TRAILER_SIZE - 5)  # the sealed header
    assert run(repo, "repair", "index").returncode == 13
    assert list((repo / "manifests" / "repack").iterdir())
    return repo, pack, first


def _keep_only(repo: Path, tmp_path: Path, first: str, name: str) -> None:
    """A snapshot of a copy of source file ``name`` alone (deduplicated into the damaged pack: its blob stays
    live; its tree goes to a new pack), and the first snapshot forgotten: the pack's other blobs die."""
    keep = tmp_path / "keep"
    keep.mkdir()
    shutil.copy(tmp_path / "src" / name, keep / name)
    _snapshot(repo, keep)
    assert run(repo, "forget", first).returncode == 0


def test_a_mostly_dead_requested_pack_with_a_failing_live_blob_is_kept_and_named(tmp_path: Path) -> None:
    repo, pack, first = _repaired_repo(tmp_path)
    _flip(pack, 1000)  # the first blob of the pack: one of the files
    damaged = [f for f in ("f0", "f1", "f2") if run(repo, "dump", first, f"/src/{f}").returncode == 13]
    assert len(damaged) == 1, damaged
    _keep_only(repo, tmp_path, first, damaged[0])
    pruned = run(repo, "prune", "--grace", "0")
    assert pruned.returncode == 0, pruned.stderr  # before: exit 13, the repack met the damaged blob
    assert pack.exists()
    assert f"pack {pack.name[:16]}: damaged, not rewritten".encode() in pruned.stdout + pruned.stderr, pruned.stdout
    assert list((repo / "manifests" / "repack").iterdir())  # still asked for


def test_a_requested_pack_gone_from_the_storage_does_not_fail_the_prune(tmp_path: Path) -> None:
    repo, pack, first = _repaired_repo(tmp_path)
    _keep_only(repo, tmp_path, first, "f1")
    pack.unlink()  # lost after the repair: still indexed, a live blob in it
    pruned = run(repo, "prune", "--grace", "0")
    assert pruned.returncode == 0, pruned.stderr  # before: exit 13, "missing object"
    assert f"pack {pack.name[:16]}: damaged, not rewritten".encode() in pruned.stdout + pruned.stderr, pruned.stdout
