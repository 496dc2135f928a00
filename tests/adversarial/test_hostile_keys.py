"""Key objects planted by someone with write access to the bucket but without the key: they must not
retire anyone's passphrase nor make every open derive a GiB-sized KDF; key objects are owner-only
files; repositories written by the previous key-object layout (version 1) still open."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

from crafting import GREEDY_KEY
from hostile_kit import ok, one_line, plant, run, run_measured, same_tree

LEGACY = Path(__file__).parent / "data" / "legacy-repo"
LEGACY_PASSWORD = "legacy passphrase"


def _repo(tmp_path: Path) -> tuple[Path, Path]:
    repo, src = tmp_path / "repo", tmp_path / "src"
    src.mkdir()
    (src / "f.txt").write_text("payload\n")
    ok("init", "--repo", str(repo))
    ok("backup", "files", str(src), "--repo", str(repo))
    return repo, src


def test_forged_generation_does_not_retire_the_key(tmp_path: Path) -> None:
    repo, src = _repo(tmp_path)
    genuine = json.loads(next((repo / "keys").iterdir()).read_bytes())
    plant(repo, "keys/" + "f" * 32, json.dumps({"generation": 99}).encode())
    forged = {**genuine, "generation": 99}  # a copy of a genuine object with a higher generation
    plant(repo, "keys/" + "e" * 32, json.dumps(forged).encode())
    proc = run("snapshots", "--repo", str(repo))
    assert proc.returncode == 0, proc.stderr
    assert "retired" not in proc.stderr
    assert len(ok("key", "list", "--repo", str(repo)).splitlines()) >= 3  # the junk is listed, not a crash
    ok("restore", "latest", "--target", str(tmp_path / "out"), "--repo", str(repo))
    same_tree(src, tmp_path / "out" / "src")


def test_key_object_binds_its_generation(tmp_path: Path) -> None:
    """Editing the generation of a genuine key object makes it fail its MAC: damage (exit 13), never a key
    of another generation."""
    repo, _ = _repo(tmp_path)
    (path,) = (repo / "keys").iterdir()
    doc = json.loads(path.read_bytes())
    assert doc["version"] == 2 and "mac" in doc
    doc["generation"] = 5
    path.write_text(json.dumps(doc))
    assert "fails its MAC" in one_line(run("snapshots", "--repo", str(repo)), 13)


def test_kdf_parameters_capped_before_deriving(tmp_path: Path) -> None:
    repo, _ = _repo(tmp_path)
    for name in ("0" * 32, "1" * 32):  # sorted before the genuine key's random id, or not: both skipped
        plant(repo, f"keys/{name}", json.dumps(GREEDY_KEY).encode())
    proc, peak_kib = run_measured("snapshots", "--repo", str(repo))
    assert proc.returncode == 0, proc.stderr
    assert "beyond the caps" in proc.stderr
    assert peak_kib < 400 * 1024, f"peak RSS {peak_kib} KiB: the 1 GiB KDF ran"


def test_key_object_and_repository_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        repo, _ = _repo(tmp_path)
        ok("key", "add", "--repo", str(repo), "--new-password-file", str(_pwfile(tmp_path)))
    finally:
        os.umask(old)
    assert stat.S_IMODE(repo.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (repo / "keys").iterdir()}
    assert len(modes) == 2 and set(modes.values()) == {0o600}, modes


def _pwfile(tmp_path: Path) -> Path:
    path = tmp_path / "new-password"
    path.write_text("second passphrase\n")
    return path


def test_repository_written_by_the_previous_layout_still_opens(tmp_path: Path) -> None:
    """A repository made by drkit before key objects had a version (data/legacy-repo, made by main at
    3907150) opens, restores byte-identical, and accepts a new key."""
    repo = tmp_path / "legacy"
    shutil.copytree(LEGACY, repo)
    src = tmp_path / "expected" / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("legacy file one\n")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 64)
    env = {"DRKIT_PASSWORD": LEGACY_PASSWORD}
    proc = run("restore", "latest", "--target", str(tmp_path / "out"), "--repo", str(repo), env=env)
    assert proc.returncode == 0, proc.stderr
    for rel in ("a.txt", "sub/b.bin"):
        assert (tmp_path / "out" / "src" / rel).read_bytes() == (src / rel).read_bytes()
    proc = run("key", "add", "--repo", str(repo), "--new-password-file", str(_pwfile(tmp_path)), env=env)
    assert proc.returncode == 0, proc.stderr
    proc = run("check", "--repo", str(repo), "--read-data", env={"DRKIT_PASSWORD": "second passphrase"})
    assert proc.returncode == 0, proc.stderr


def test_check_names_planted_key_objects_and_rotation_records(tmp_path: Path) -> None:
    """Opening skips what authenticates under no key; `check` names each such object (exit 13), and a
    repository with only genuine key objects (one added, one rotated) and records checks clean."""
    repo, _ = _repo(tmp_path)
    pw2 = tmp_path / "pw2"
    pw2.write_text("second passphrase\n")
    ok("key", "add", "--new-password-file", str(pw2), "--repo", str(repo))
    ok("key", "rotate", "--repo", str(repo))
    assert run("check", "--repo", str(repo)).returncode == 0
    genuine = json.loads(next((repo / "keys").iterdir()).read_bytes())
    plant(repo, "keys/" + "f" * 32, json.dumps({"generation": 99}).encode())
    plant(repo, "keys/" + "e" * 32, json.dumps({**genuine, "generation": 99}).encode())
    plant(repo, "keys/" + "d" * 32, json.dumps(GREEDY_KEY).encode())
    plant(repo, "rotations/00000099-" + "c" * 16, b'{"generation": 99, "mac": "00"}')
    plant(repo, "rotations/00000098-" + "b" * 16, b"[" * 5000)
    proc = run("check", "--repo", str(repo))
    assert proc.returncode == 13, proc.stderr
    for name in ("f" * 32, "e" * 32, "d" * 32, "00000099-" + "c" * 16, "00000098-" + "b" * 16):
        assert name in proc.stdout + proc.stderr, name
    assert "Traceback" not in proc.stderr
