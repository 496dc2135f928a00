"""A pending index object (the entries of packs a prune marked for deletion) that is damaged is skipped
when the index is read; the settlement must not then delete the mark's packs unchecked: whether one
holds a blob a backup deduplicated into before the mark cannot be told without those entries."""

from __future__ import annotations

import os
from pathlib import Path

from hostile_kit import backup, ok, open_repo, run


def test_prune_does_not_settle_a_mark_whose_pending_index_is_damaged(tmp_path: Path) -> None:
    repo, src = tmp_path / "repo", tmp_path / "src"
    src.mkdir()
    (src / "f.bin").write_bytes(os.urandom(100_000))
    ok("init", "--repo", str(repo))
    first = backup(repo, src)
    packs = {p.name for p in (repo / "data").rglob("*") if p.is_file()}
    (repo / "snapshots" / first).unlink()  # as a forget would (its tombstone aside)
    ok("prune", "--repo", str(repo))  # default grace: the packs are marked, not deleted
    (mark,) = open_repo(repo).marks.values()
    assert set(mark.packs) == packs
    for index_id in mark.indexes:
        pending = repo / "index" / index_id
        data = pending.read_bytes()
        pending.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    proc = run("prune", "--repo", str(repo), "--grace", "0")
    assert proc.returncode == 0, proc.stderr
    assert packs <= {p.name for p in (repo / "data").rglob("*") if p.is_file()}, "marked packs deleted unchecked"
    assert "unreadable" in proc.stdout + proc.stderr
