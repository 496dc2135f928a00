"""`drkit copy` and `drkit prune` progress know their totals (issue #26): the total announced before the first
byte equals what the progress then adds up to, and equals an independent count: the sizes of the source files
by lstat and the stream's length for a copy (whose restore rsync finds equal to the source); the stored size
of each repacked pack object for a prune."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

from files_fixtures import SMALL_CHUNKS

from drkit.ops.copy import copy_snapshots
from drkit.repository import snapshots
from drkit.repository.format import RepoConfig, pack_key
from drkit.repository.prune import PruneOptions, prune
from drkit.repository.repo import Repository
from drkit.repository.streams import SourceRef, backup_stream
from drkit.retention.forget import forget
from drkit.retention.policy import Policy
from drkit.sources.files import Selection
from drkit.sources.files.ops import BackupRequest, backup_files, restore_files
from storage_backends.testing.memory import MemoryBackend


def _tree(root: Path) -> Path:
    src = root / "src"
    for d in ("a/b", "twin/b"):  # twin/b is a copy of a/b: one tree met twice in the snapshot
        (src / d).mkdir(parents=True)
    for i in range(12):
        (src / "a" / f"f{i}").write_bytes(os.urandom(7000 * i))
    (src / "a" / "same").write_bytes((src / "a" / "f5").read_bytes())  # one content list met twice
    for d in ("a/b", "twin/b"):
        (src / d / "big").write_bytes(b"x" * 5 + bytes(range(256)) * 2000)
        os.utime(src / d / "big", ns=(1, 1))
        os.utime(src / d, ns=(1, 1))
    (src / "a" / "link").symlink_to("f1")
    return src


def _file_bytes(src: Path) -> int:
    return sum(os.lstat(p).st_size for p in src.rglob("*") if p.is_file() and not p.is_symlink())


def test_copy_progress_reaches_the_announced_total(repo: Repository, tmp_path: Path) -> None:
    src = _tree(tmp_path)
    backup_files(repo, BackupRequest(paths=[str(src)]))
    stream = os.urandom(300_000)
    backup_stream(repo, SourceRef("stdin", "db"), io.BytesIO(stream))
    target = Repository.init(MemoryBackend(), "other", RepoConfig(chunker=SMALL_CHUNKS, pack_size=1 << 20))
    seen: list[int] = []
    totals: list[int] = []
    result = copy_snapshots(repo, target, [], progress=seen.append, on_total=totals.append)
    assert len(result.copied) == 2
    assert totals == [sum(seen)] == [_file_bytes(src) + len(stream)]
    copied = [s for s in snapshots.load_all(target.manifests) if s.source_kind == "files"]
    target.load_index()
    restore_files(target, copied[0], str(tmp_path / "out"), Selection())
    rsync = ["rsync", "-aHAXS", "--dry-run", "--checksum", "--itemize-changes", f"{src}/", f"{tmp_path}/out/src/"]
    assert subprocess.run(rsync, capture_output=True, text=True, check=True).stdout == ""
    seen.clear()
    totals.clear()
    again = copy_snapshots(repo, target, [], progress=seen.append, on_total=totals.append)
    assert again.copied == {} and totals == [0] and seen == []  # nothing left to convert


def test_prune_progress_reaches_the_repacked_packs_total(repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        (src / f"f{i}").write_bytes(os.urandom(300_000))
    backup_files(repo, BackupRequest(paths=[str(src)]))
    for i in range(0, 6, 2):
        (src / f"f{i}").unlink()
    backup_files(repo, BackupRequest(paths=[str(src)]))
    forget(repo, Policy(keep_last=1))
    seen: list[int] = []
    totals: list[int] = []
    plan = prune(repo, PruneOptions(repack_below=0.99), progress=seen.append, on_total=totals.append)
    assert plan.repack_packs, "the test needs packs that are partly live"
    stored = sum(len(repo.backend.get(pack_key(p)).read()) for p in plan.repack_packs)  # marked, not yet deleted
    assert totals == [sum(seen)] == [stored]
    seen.clear()
    totals.clear()
    dry = prune(repo, PruneOptions(repack_below=0.99, dry_run=True), progress=seen.append, on_total=totals.append)
    assert totals == [0] and seen == [] and not dry.repack_packs
