"""Unpacking a base backup snapshot: the tar in the repository comes back as files, verified; a
crafted snapshot whose tar names leave the target is refused as damaged, nothing written outside."""

from __future__ import annotations

import io
import random
import tarfile
from pathlib import Path

import pytest

from drkit.core.errors import IntegrityError
from drkit.repository.format import RepoConfig
from drkit.repository.repo import Repository
from drkit.repository.snapshots import Snapshot
from drkit.repository.streams import BundleWriter, SourceRef
from drkit.sources.postgres.physical import extract_base
from drkit.sources.postgres.pitr import prepare_data_dir
from storage_backends.testing.memory import MemoryBackend


def _snapshot(repo: Repository, files: dict[str, bytes]) -> Snapshot:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    out.seek(0)
    with BundleWriter(repo) as bundle:
        bundle.add("base", out)
        return bundle.commit(SourceRef("postgres", "c", meta={"mode": "physical"}))


@pytest.fixture
def repo() -> Repository:
    return Repository.init(MemoryBackend(), "pw", RepoConfig(pack_size=1 << 20))


def test_base_backup_unpacks_to_its_files(repo: Repository, tmp_path: Path) -> None:
    rng = random.Random(3)
    files = {"PG_VERSION": b"15\n", "base/1/1259": rng.randbytes(90_000), "base/5/16397": rng.randbytes(3 << 20)}
    snap = _snapshot(repo, files)
    written = extract_base(repo, snap, tmp_path)
    assert written == snap.root["parts"]["base"]["size"]
    assert {str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == files


def test_a_crafted_base_backup_cannot_write_outside_the_target(repo: Repository, tmp_path: Path) -> None:
    target = tmp_path / "data"
    target.mkdir()
    snap = _snapshot(repo, {"PG_VERSION": b"15\n", "../escaped": b"evil"})
    with pytest.raises(IntegrityError, match="outside the target"):
        extract_base(repo, snap, target)
    assert not (tmp_path / "escaped").exists()


def test_recovery_settings_are_never_written_through_a_symlink_in_the_backup(repo: Repository, tmp_path: Path) -> None:
    """pg_basebackup puts symlinks in pg_tblspc only; one named postgresql.auto.conf could point at
    any file of this host, which appending the recovery settings would change."""
    victim = tmp_path / "victim.conf"
    victim.write_text("untouched\n")
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        link = tarfile.TarInfo("postgresql.auto.conf")
        link.type, link.linkname = tarfile.SYMTYPE, str(victim)
        tar.addfile(link)
    out.seek(0)
    with BundleWriter(repo) as bundle:
        bundle.add("base", out)
        snap = bundle.commit(SourceRef("postgres", "c", meta={"mode": "physical"}))
    with pytest.raises(IntegrityError, match="symlink"):
        prepare_data_dir(repo, snap, tmp_path / "data", {"restore_command": "false"})
    assert victim.read_text() == "untouched\n"


def _tree_snapshot(repo: Repository, src: Path) -> Snapshot:
    from drkit.sources.files.ops import BackupRequest, backup_files

    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    snap.source_kind, snap.meta = "postgres", {"mode": "physical", "method": "local"}
    return snap


def test_a_local_base_backup_tree_comes_back_as_the_data_directory(repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "data"
    (src / "base" / "1").mkdir(parents=True)
    (src / "base" / "1" / "16384").write_bytes(random.randbytes(300_000))
    (src / "backup_label").write_text("START TIMELINE: 1\n")
    target = tmp_path / "restored"
    extract_base(repo, _tree_snapshot(repo, src), target)
    assert (target / "base" / "1" / "16384").read_bytes() == (src / "base" / "1" / "16384").read_bytes()
    assert (target / "backup_label").read_text() == "START TIMELINE: 1\n"
    assert not (target / "data").exists()  # the directory's contents, not the directory


def test_a_tree_entry_not_restored_exactly_is_an_error(repo: Repository, tmp_path: Path) -> None:
    from drkit.sources.postgres.errors import PostgresError

    src = tmp_path / "data"
    src.mkdir()
    (src / "open").write_bytes(b"x")
    (src / "open").chmod(0o666)  # world-writable: restored without that bit, and said so
    with pytest.raises(PostgresError, match="not restored exactly"):
        extract_base(repo, _tree_snapshot(repo, src), tmp_path / "restored")
