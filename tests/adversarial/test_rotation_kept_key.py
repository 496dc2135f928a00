"""Under Object Lock, `key rotate` cannot delete the key objects it retires; the rotating passphrase then
opens two of them: the retired one (old keys only) and the new one. Which the storage lists first must
not decide whether that passphrase is let in."""

from __future__ import annotations

import os
from pathlib import Path

from hostile_kit import backup, ok, run, same_tree


def test_rotated_passphrase_opens_its_newest_key_object(tmp_path: Path) -> None:
    repo, src = tmp_path / "repo", tmp_path / "src"
    src.mkdir()
    (src / "f.bin").write_bytes(os.urandom(50_000))
    ok("init", "--repo", str(repo))
    (old,) = (repo / "keys").iterdir()
    kept = old.read_bytes()
    ok("key", "rotate", "--repo", str(repo))  # the same passphrase, a new key object
    (new,) = (repo / "keys").iterdir()
    new.rename(repo / "keys" / ("f" * 32))  # listed last
    (repo / "keys" / ("0" * 32)).write_bytes(kept)  # as Object Lock keeps it, listed first
    snap = backup(repo, src)
    proc = run("restore", snap, "--target", str(tmp_path / "out"), "--repo", str(repo))
    assert proc.returncode == 0, proc.stderr
    same_tree(src, tmp_path / "out" / "src")
