"""A lost pack (issue 20): the index still names it. Before, every later backup of the same data
deduplicated into it ("0 new ... 0 packs"), exited 0 and could not be restored. Now such a backup
fails with exit 13 and points to `drkit repair index`, writes no snapshot, and after the repair the
same data is stored anew and restores byte-identical (oracle: the source bytes)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from advkit import assert_restores, backup, init, pack_files, run
from clirun import one_line_error
from hostile_kit import same_tree


def _snapshot_ids(repo: Path) -> list[str]:
    proc = run(repo, "snapshots", "--json")
    assert proc.returncode == 0, proc.stderr
    return [s["id"] for s in json.loads(proc.stdout)]


def test_backup_never_references_a_lost_pack(tmp_path: Path) -> None:
    repo = init(tmp_path / "repo")
    data = os.urandom(3 << 20)
    backup(repo, data, "db")
    [pack] = pack_files(repo)
    pack.unlink()  # lost outside drkit
    before = _snapshot_ids(repo)

    again = run(repo, "backup", "stdin", "--name", "db", stdin=data)
    assert again.returncode == 13, again.stdout + again.stderr
    assert "missing from the storage" in one_line_error(again)
    assert b"drkit repair index" in again.stderr
    assert _snapshot_ids(repo) == before, "a snapshot that references the lost pack was written"

    other = os.urandom(1 << 20)  # data the lost pack never held: backups of it go on
    assert_restores(repo, backup(repo, other, "other"), other)

    repaired = run(repo, "repair", "index")
    assert repaired.returncode == 0, repaired.stderr
    fresh = backup(repo, data, "db")
    assert_restores(repo, fresh, data)


def test_files_backup_with_unchanged_files_and_a_lost_pack(tmp_path: Path) -> None:
    """Unchanged files reuse the parent snapshot's blob lists without reading: those must not point into
    a lost pack either, nor (after `repair index` dropped it) at blobs no index holds."""
    repo = init(tmp_path / "repo")
    src = tmp_path / "src"
    src.mkdir()
    for i in range(5):
        (src / f"f{i}").write_bytes(os.urandom(200_000))
    first = run(repo, "backup", "files", str(src), "--json")
    assert first.returncode == 0, first.stderr
    for pack in pack_files(repo):
        pack.unlink()

    again = run(repo, "backup", "files", str(src))
    assert again.returncode == 13, again.stdout + again.stderr
    assert "drkit repair index" in again.stderr.decode()

    assert run(repo, "repair", "index").returncode == 0
    fixed = run(repo, "backup", "files", str(src), "--json")
    assert fixed.returncode == 0, fixed.stderr
    snap = json.loads(fixed.stdout)["snapshot"]
    target = tmp_path / "restored"
    restore = run(repo, "restore", "files", snap, "--target", str(target))
    assert restore.returncode == 0, restore.stderr
    same_tree(src, target / src.name)


def test_backup_never_references_a_truncated_pack(tmp_path: Path) -> None:
    """A pack cut short (a partial copy, a disk error) is as lost as a deleted one: deduplicating into it
    wrote a snapshot that could not be restored, exit 0."""
    repo = init(tmp_path / "repo")
    data = os.urandom(3 << 20)
    backup(repo, data, "db")
    [pack] = pack_files(repo)
    with open(pack, "r+b") as f:
        f.truncate(pack.stat().st_size // 2)
    before = _snapshot_ids(repo)
    again = run(repo, "backup", "stdin", "--name", "db", stdin=data)
    assert again.returncode == 13, again.stdout + again.stderr
    assert _snapshot_ids(repo) == before, "a snapshot that references the truncated pack was written"
    repaired = run(repo, "repair", "index")  # drops the pack from the index, and reports it damaged
    assert repaired.returncode == 13 and b"does not fit the pack" in repaired.stderr, repaired.stderr
    assert_restores(repo, backup(repo, data, "db"), data)
