"""`restore files --point-in-time` with one instant written three ways (``…Z``, ``…+00:00``, and with
a space and a ``-05:30`` offset) restores the tree as it was then, checked by an independent oracle:
``rsync -aHAXS --dry-run --checksum --itemize-changes`` between a copy taken at that instant and the
restore prints nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from clirun import drkit

ENV = {"DRKIT_PASSWORD": "pw-for-files-pitr"}


def _ok(*args: str) -> bytes:
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def _tree(src: Path) -> None:
    (src / "sub" / "deep").mkdir(parents=True)
    for i in range(20):
        (src / "sub" / f"f{i}.txt").write_bytes(os.urandom(1000 + i))
    (src / "sub" / "deep" / "big.bin").write_bytes(os.urandom(300_000))
    os.link(src / "sub" / "f1.txt", src / "hardlink.txt")
    os.symlink("sub/f2.txt", src / "link")
    (src / "sub" / "f3.txt").chmod(0o600)


def _differences(expected: Path, actual: Path) -> str:
    proc = subprocess.run(
        ["rsync", "-aHAXS", "--dry-run", "--checksum", "--itemize-changes", "--delete", f"{expected}/", f"{actual}/"],
        capture_output=True,
        check=True,
    )
    return proc.stdout.decode()


def test_files_restore_to_the_same_instant_however_it_is_spelled(tmp_path: Path) -> None:
    repo, src, oracle = str(tmp_path / "repo"), tmp_path / "src", tmp_path / "oracle"
    src.mkdir()
    _tree(src)
    _ok("init", "--repo", repo)
    _ok("backup", "files", str(src), "--repo", repo)
    subprocess.run(["cp", "-a", str(src), str(oracle)], check=True)  # the tree at the target instant
    at = datetime.now(UTC)
    (src / "sub" / "f4.txt").write_bytes(b"changed after the target")
    (src / "sub" / "f5.txt").unlink()
    (src / "new.txt").write_bytes(b"new")
    second = json.loads(_ok("backup", "files", str(src), "--repo", repo, "--json"))
    assert datetime.fromisoformat(_time(repo, second["snapshot"])) > at
    assert _differences(oracle, src)  # the oracle can tell the two states apart
    west = at.astimezone(timezone(-timedelta(hours=5, minutes=30)))
    for i, when in enumerate(
        [f"{at:%Y-%m-%dT%H:%M:%S.%f}Z", f"{at:%Y-%m-%dT%H:%M:%S.%f}+00:00", f"{west:%Y-%m-%d %H:%M:%S.%f}-05:30"]
    ):
        target = tmp_path / f"out{i}"
        _ok("restore", "files", "--point-in-time", when, "--target", str(target), "--repo", repo)
        assert _differences(oracle, target / "src") == "", when
        shutil.rmtree(target)


def _time(repo: str, snapshot: str) -> str:
    snaps = json.loads(_ok("snapshots", "--repo", repo, "--json"))
    return str(next(s["time"] for s in snaps if s["id"] == snapshot))


def test_the_time_snapshots_prints_restores_that_snapshot(tmp_path: Path) -> None:
    """`drkit snapshots` printed a time without its zone (refused by `--point-in-time`); now in UTC
    with `Z`, pasted back it is that very instant: the second snapshot's start restores the first, the
    newest one finished by then (the second was being taken: named, its ID restores it)."""
    repo, src = str(tmp_path / "repo"), tmp_path / "src"
    src.mkdir()
    _ok("init", "--repo", repo)
    for content in (b"one", b"two"):
        (src / "v").write_bytes(content)
        _ok("backup", "files", str(src), "--repo", repo)
    row = _ok("snapshots", "--repo", repo).decode().splitlines()[2]  # the second snapshot
    shown = row.split()[1]
    assert shown.endswith("Z"), row
    proc = drkit(
        "restore", "files", "--point-in-time", shown, "--target", str(tmp_path / "out"), "--repo", repo, env=ENV
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert (tmp_path / "out" / "src" / "v").read_bytes() == b"one"
    assert f"snapshot {row.split()[0][:8]} was still being taken at {shown}" in proc.stderr.decode()
