"""A repository rotated by the previous drkit release under Object Lock: its key objects are version 1 (no MAC,
generation unauthenticated) and the retired one could not be deleted. Once a current passphrase has opened it
with this drkit (which records the generation, MACed), the retired passphrase must open nothing; and nothing
someone with bucket write access but no key can plant (junk records, copied records, forged key objects)
may lock the current passphrase out or lower the recorded generation."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from hostile_kit import backup, ok, one_line, plant, run, same_tree

RETIRED = {"DRKIT_PASSWORD": "retired passphrase"}


def _as_version_1(path: Path) -> None:
    """The key object as the previous release wrote it: same seal, no ``version`` or ``mac``, no
    ``generation`` at 0 (keys.wrap_master_key at 3907150)."""
    doc = json.loads(path.read_bytes())
    for field in ("version", "mac"):
        doc.pop(field)
    if not doc["generation"]:
        del doc["generation"]
    path.write_text(json.dumps(doc, sort_keys=True))


def _rotated_by_previous_release(tmp_path: Path) -> tuple[Path, Path, str]:
    """Init, a second passphrase, a backup, `key rotate` (its retired key object kept, as Object Lock does),
    then everything in the layout the previous release wrote: version-1 key objects, no rotation records."""
    repo, src = tmp_path / "repo", tmp_path / "src"
    src.mkdir()
    (src / "f.bin").write_bytes(os.urandom(70_000))
    ok("init", "--repo", str(repo))
    pwfile = tmp_path / "retired-pw"
    pwfile.write_text(RETIRED["DRKIT_PASSWORD"])
    before = {p.name for p in (repo / "keys").iterdir()}
    ok("key", "add", "--repo", str(repo), "--new-password-file", str(pwfile))
    (retired_id,) = {p.name for p in (repo / "keys").iterdir()} - before
    kept = (repo / "keys" / retired_id).read_bytes()
    snap = backup(repo, src)
    ok("key", "rotate", "--repo", str(repo))
    (repo / "keys" / retired_id).write_bytes(kept)  # Object Lock kept it
    shutil.rmtree(repo / "rotations", ignore_errors=True)
    for path in (repo / "keys").iterdir():
        _as_version_1(path)
    return repo, src, snap


def test_retired_version_1_key_opens_nothing_once_a_current_key_has_opened(tmp_path: Path) -> None:
    repo, src, snap = _rotated_by_previous_release(tmp_path)
    ok("snapshots", "--repo", str(repo))  # the current passphrase, after the upgrade: records generation 1
    err = one_line(run("snapshots", "--repo", str(repo), env=RETIRED), 12)
    assert "retired by `drkit key rotate`" in err
    assert [p.name[:9] for p in (repo / "rotations").iterdir()] == ["00000001-"]
    assert run("restore", snap, "--target", str(tmp_path / "no"), "--repo", str(repo), env=RETIRED).returncode == 12
    assert not (tmp_path / "no").exists()
    ok("restore", snap, "--target", str(tmp_path / "out"), "--repo", str(repo))
    same_tree(src, tmp_path / "out" / "src")


def test_planted_records_and_key_objects_neither_lock_out_nor_revive(tmp_path: Path) -> None:
    repo, src, snap = _rotated_by_previous_release(tmp_path)
    ok("snapshots", "--repo", str(repo))
    (genuine,) = (repo / "rotations").iterdir()
    plant(repo, "rotations/99999999-junk", b'{"generation": 99999999, "mac": "00"}')
    plant(repo, "rotations/00000050-junk", b"\x00" * 100)
    plant(repo, "rotations/00000000-copy", genuine.read_bytes())  # a genuine record under a lower name
    plant(repo, "rotations/00000007-copy", genuine.read_bytes())  # and a higher one: both skipped
    plant(repo, "keys/" + "f" * 32, json.dumps({"generation": 99}).encode())
    forged = json.loads(next(p for p in (repo / "keys").iterdir() if p.name != "f" * 32).read_bytes())
    plant(repo, "keys/" + "e" * 32, json.dumps({**forged, "generation": 42}).encode())
    ok("restore", snap, "--target", str(tmp_path / "out"), "--repo", str(repo))
    same_tree(src, tmp_path / "out" / "src")
    assert "retired" in one_line(run("snapshots", "--repo", str(repo), env=RETIRED), 12)
    # deleting records needs delete rights (Object Lock denies them); the junk alone revives nothing
    assert {p.name for p in (repo / "rotations").iterdir()} >= {genuine.name}


def test_rotation_writes_a_record_every_generation_checks(tmp_path: Path) -> None:
    """A repository rotated again by this drkit: the retired key object is refused even when the newest key
    object is stripped to version 1 as well (the record alone proves the generation)."""
    repo, _, _ = _rotated_by_previous_release(tmp_path)
    retired = {p.name: p.read_bytes() for p in (repo / "keys").iterdir()}
    ok("key", "rotate", "--repo", str(repo))  # generation 2, by this drkit: a record is written at once
    names = sorted(p.name[:9] for p in (repo / "rotations").iterdir())
    assert names == ["00000001-", "00000002-"], names
    for path in (repo / "keys").iterdir():
        _as_version_1(path)
    for name, data in retired.items():  # both earlier key objects kept, as Object Lock does
        (repo / "keys" / name).write_bytes(data)
    assert "retired" in one_line(run("snapshots", "--repo", str(repo), env=RETIRED), 12)
    ok("snapshots", "--repo", str(repo))  # the rotating passphrase opens its generation-2 key object


def test_deeply_nested_planted_objects_lock_nobody_out(tmp_path: Path) -> None:
    """JSON nested deeper than the interpreter recurses (64 KiB of '[', within the read cap) under
    ``rotations/`` and ``keys/``: json.loads raises RecursionError, not ValueError; the open must skip
    such an object like any junk (it failed with 'internal error: RecursionError', exit 1, for everyone)."""
    repo, src, snap = _rotated_by_previous_release(tmp_path)
    ok("snapshots", "--repo", str(repo))
    plant(repo, "rotations/99999999-deep", b"[" * 60_000)
    ok("restore", snap, "--target", str(tmp_path / "out"), "--repo", str(repo))
    same_tree(src, tmp_path / "out" / "src")
    assert "retired" in one_line(run("snapshots", "--repo", str(repo), env=RETIRED), 12)
    plant(repo, "keys/" + "d" * 32, b'{"kdf_params": ' + b"[" * 60_000)
    ok("snapshots", "--repo", str(repo))
    assert "dddddddd" in ok("key", "list", "--repo", str(repo))  # listed, not a crash
    assert "retired" in one_line(run("snapshots", "--repo", str(repo), env=RETIRED), 12)


def test_a_retired_version_1_key_warns_in_the_window_before_a_current_key_opens(tmp_path: Path) -> None:
    """The window that cannot be closed without a current passphrase (nothing the retired key can
    authenticate says it is retired; a refusal on the unauthenticated version-1 claim would let a
    planted key object lock every version-1 key out): the retired key still opens, but says it may be
    retired and what closes the window. Before: it opened without a word."""
    repo, _src, _snap = _rotated_by_previous_release(tmp_path)
    opened = run("snapshots", "--repo", str(repo), env=RETIRED)
    assert opened.returncode == 0, opened.stderr
    assert "is of generation 0" in opened.stderr and "claims generation 1" in opened.stderr, opened.stderr
    assert "a current passphrase opens the repository once with write access" in opened.stderr
    current = run("snapshots", "--repo", str(repo))  # closes the window (records generation 1)
    assert current.returncode == 0 and "claims generation" not in current.stderr, current.stderr
    assert "retired" in one_line(run("snapshots", "--repo", str(repo), env=RETIRED), 12)
    again = run("snapshots", "--repo", str(repo))
    assert again.returncode == 0 and "claims generation" not in again.stderr, again.stderr
