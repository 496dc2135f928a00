"""The restore's run order: small files' runs are spread among the large files' runs (each kind at
the pace of its share of the bytes), so the CPU-bound small files overlap the device-bound direct
writes of the large ones instead of following them."""

from __future__ import annotations

import os
import random
from pathlib import Path

from drkit.core.filewriters import DIRECT_FROM
from drkit.repository.repo import Repository
from drkit.sources.files.diff import walk
from drkit.sources.files.fetch import Writeout
from drkit.sources.files.ops import BackupRequest, backup_files
from drkit.sources.files.tree import FILE


def _tree(root: Path) -> Path:
    """Large files first in name order (as in a tree whose big files sort before its source code)."""
    rng = random.Random(7)
    (root / "a_big").mkdir(parents=True)
    (root / "b_small").mkdir()
    for i in range(4):
        (root / "a_big" / f"f{i}").write_bytes(rng.randbytes(DIRECT_FROM + 512 * 1024))
    for i in range(120):
        (root / "b_small" / f"s{i:03d}").write_bytes(rng.randbytes(20_000))
    return root


def test_small_runs_are_spread_among_large_runs(repo: Repository, tmp_path: Path) -> None:
    src = _tree(tmp_path / "src")
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    files = [
        (os.path.join(tmp_path, "out", rel), node) for rel, node in walk(repo, snap.root["tree"]) if node.type == FILE
    ]
    assert files[0][1].size >= DIRECT_FROM and files[-1][1].size < DIRECT_FROM  # big ones first
    kinds = []
    for run in Writeout(repo, as_root=False)._runs(files):
        sizes = {out.node.size >= DIRECT_FROM for blob in run for out, _ in blob.targets}
        assert len(sizes) == 1  # a run holds one kind
        kinds.append("L" if sizes.pop() else "S")
    small, large = kinds.count("S"), kinds.count("L")
    assert small >= 2 and large >= 4
    smalls = [i for i, k in enumerate(kinds) if k == "S"]
    larges = [i for i, k in enumerate(kinds) if k == "L"]
    # neither kind goes first as a block: each starts before the other's second run, and each has
    # runs in both halves of the order
    assert smalls[0] < larges[1] and larges[0] < smalls[1]
    half = len(kinds) // 2
    assert "S" in kinds[:half] and "S" in kinds[half:] and "L" in kinds[:half] and "L" in kinds[half:]
    # every blob of every file is planned once
    planned = sum(len(blob.targets) for run in Writeout(repo, as_root=False)._runs(files) for blob in run)
    assert planned == sum(len(node.content) for _, node in files)
