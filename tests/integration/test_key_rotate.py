"""`drkit key rotate`: new data under a new encryption key, old data still readable, other passphrases
removed (and a leftover key object of an older generation refused)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from clirun import drkit, one_line_error

from drkit.pipeline import Cipher
from drkit.repository.format import AAD_PACK_HEADER
from drkit.repository.keys import unwrap_master_key
from drkit.repository.pack import TRAILER_SIZE, header_length

A = {"DRKIT_PASSWORD": "first-passphrase"}
B = {"DRKIT_PASSWORD": "second-passphrase"}
pytestmark = pytest.mark.integration


def _ok(proc):  # type: ignore[no-untyped-def]
    assert proc.returncode == 0, proc.stderr.decode()
    return proc


def _packs(repo: Path) -> set[Path]:
    return set((repo / "data").rglob("*/*"))


def _header(pack: Path) -> bytes:
    data = pack.read_bytes()
    n = header_length(data[-TRAILER_SIZE:])
    return data[len(data) - TRAILER_SIZE - n : len(data) - TRAILER_SIZE]


def _opens(key: bytes, sealed: bytes) -> bool:
    try:
        Cipher(key).open(sealed, AAD_PACK_HEADER)
    except Exception:  # noqa: BLE001 - IntegrityError: not this key
        return False
    return True


def test_rotate_keeps_old_data_readable_and_seals_new_data_with_the_new_key(tmp_path: Path) -> None:
    repo_dir = tmp_path / "repo"
    repo = str(repo_dir)
    _ok(drkit("init", "--repo", repo, "--pack-size-mib", "1", env=A))
    first_key = set((repo_dir / "keys").iterdir())
    (tmp_path / "b").write_text(B["DRKIT_PASSWORD"])
    _ok(drkit("key", "add", "--repo", repo, "--new-password-file", str(tmp_path / "b"), env=A))
    (b_key,) = set((repo_dir / "keys").iterdir()) - first_key
    b_object = b_key.read_bytes()
    old_data = random.Random(1).randbytes(1_500_000)
    old_id = json.loads(
        _ok(drkit("backup", "stdin", "--name", "db", "--json", "--repo", repo, stdin=old_data, env=A)).stdout
    )["snapshot"]
    old_packs = _packs(repo_dir)

    rotated = _ok(drkit("key", "rotate", "--repo", repo, "--json", env=A))
    result = json.loads(rotated.stdout)
    assert result["generation"] == 1 and len(result["removed"]) == 2 and result["retired"] == []
    assert b"first-passphrase" not in rotated.stdout + rotated.stderr
    assert drkit("snapshots", "--repo", repo, env=B).returncode == 12  # its key object is gone

    new_data = random.Random(2).randbytes(1_200_000)
    new_id = json.loads(
        _ok(drkit("backup", "stdin", "--name", "db", "--json", "--repo", repo, stdin=new_data, env=A)).stdout
    )["snapshot"]
    new_packs = _packs(repo_dir) - old_packs
    assert new_packs
    for ref, data in ((old_id, old_data), (new_id, new_data)):
        assert _ok(drkit("restore", ref[:8], "--to", "-", "--repo", repo, env=A)).stdout == data
    _ok(drkit("check", "--read-data", "--repo", repo, env=A))

    key_object = next((repo_dir / "keys").iterdir()).read_bytes()
    master = unwrap_master_key(key_object, A["DRKIT_PASSWORD"])
    assert master is not None and master.generation == 1
    (old_key,) = master.previous
    assert all(_opens(master.encryption, _header(p)) and not _opens(old_key, _header(p)) for p in new_packs)
    assert all(_opens(old_key, _header(p)) for p in old_packs)

    listed = json.loads(_ok(drkit("key", "list", "--json", "--repo", repo, env=A)).stdout)
    assert [k["generation"] for k in listed] == [1]

    b_key.write_bytes(b_object)  # a key object left from before the rotation (say, still locked)
    proc = drkit("snapshots", "--repo", repo, env=B)
    assert proc.returncode == 12
    assert "retired by `drkit key rotate`" in one_line_error(proc)
    b_key.unlink()

    _ok(drkit("key", "rotate", "--repo", repo, env=A))  # a second rotation: everything still reads
    for ref, data in ((old_id, old_data), (new_id, new_data)):
        assert _ok(drkit("restore", ref[:8], "--to", "-", "--repo", repo, env=A)).stdout == data
    _ok(drkit("check", "--read-data", "--repo", repo, env=A))
