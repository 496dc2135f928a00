"""A pack whose sealed header is damaged (a flipped byte) keeps its blobs intact, and `repair index` indexes it
from an intact old index object (with `--read-data`, only its blobs that verify). Prune never rewrote it: all
its blobs are live, so it is never "mostly dead", and `check` reported the damaged header forever. Now the
repair asks prune to rewrite it (a `repack` document); prune verifies every live blob of it, copies them into
a new pack and deletes the damaged one: `check --read-data` is clean and the snapshot restores identical to
the source (rsync). A pack with a live blob that fails verification is not rewritten, and is named."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from advkit import init, pack_files, run
from hostile_kit import same_tree

from drkit.repository.pack import TRAILER_SIZE


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for i in range(3):
        (src / f"f{i}").write_bytes(os.urandom(300_000))
    (src / "sub" / "small").write_bytes(b"small file\n")
    return src


def _flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))


def _damaged_header_repo(tmp_path: Path, read_data: bool) -> tuple[Path, Path, str, Path]:
    repo, src = init(tmp_path / "repo"), _source(tmp_path)
    proc = run(repo, "backup", "files", str(src), "--json")
    assert proc.returncode == 0, proc.stderr
    snap = str(json.loads(proc.stdout)["snapshot"])
    pack = max(pack_files(repo), key=lambda p: p.stat().st_size)
    _flip(pack, pack.stat().st_size - TRAILER_SIZE - 5)  # inside the sealed header, before the trailer
    checked = run(repo, "check", "--read-data")
    assert checked.returncode == 13, checked.stderr
    repaired = run(repo, "repair", "index", *(["--read-data"] if read_data else []))
    assert repaired.returncode == 13, repaired.stderr  # damage found: the header
    assert run(repo, "check", "--read-data").returncode == 13  # still reported: the pack is kept, header damaged
    return repo, src, snap, pack


@pytest.mark.parametrize("read_data", [False, True])
def test_prune_rewrites_a_pack_kept_with_a_damaged_header(tmp_path: Path, read_data: bool) -> None:
    repo, src, snap, pack = _damaged_header_repo(tmp_path, read_data)
    pruned = run(repo, "prune", "--grace", "0")
    assert pruned.returncode == 0, pruned.stderr
    assert not pack.exists()  # before: kept, and check kept failing
    clean = run(repo, "check", "--read-data")
    assert clean.returncode == 0, clean.stderr
    assert not list((repo / "manifests" / "repack").iterdir())  # the request is done and gone
    out = tmp_path / "out"
    restored = run(repo, "restore", snap, "--target", str(out))
    assert restored.returncode == 0, restored.stderr
    same_tree(src, out / src.name)


def test_a_damaged_pack_with_a_failing_live_blob_is_not_rewritten(tmp_path: Path) -> None:
    repo, _src, _snap, pack = _damaged_header_repo(tmp_path, read_data=False)
    _flip(pack, 1000)  # and now a blob too, after the repair: its entry is still indexed and live
    pruned = run(repo, "prune", "--grace", "0")
    assert pruned.returncode == 0, pruned.stderr
    assert pack.exists()
    assert f"pack {pack.name[:16]}: damaged, not rewritten".encode() in pruned.stdout + pruned.stderr, pruned.stdout
    assert list((repo / "manifests" / "repack").iterdir())  # still asked for
