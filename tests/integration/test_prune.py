"""Prune after forget: space is freed, every remaining snapshot restores, check passes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from clirun import DRKIT, drkit

ENV = {"DRKIT_PASSWORD": "prune-pw"}
pytestmark = pytest.mark.integration


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in (path / "data").rglob("*") if p.is_file())


def backup(repo: str, data: bytes) -> str:
    proc = drkit("backup", "stdin", "--name", "db", "--json", "--repo", repo, stdin=data, env=ENV)
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["snapshot"])


def test_prune_frees_space_and_keeps_what_is_referenced(tmp_path: Path) -> None:
    repo = str(tmp_path / "repo")
    assert drkit("init", "--repo", repo, "--pack-size-mib", "1", env=ENV).returncode == 0
    rnd = random.Random(3)
    shared = rnd.randbytes(3 << 20)
    streams = [rnd.randbytes(2 << 20) + shared for _ in range(4)]
    ids = [backup(repo, s) for s in streams]
    full = du(tmp_path / "repo")

    dry = json.loads(drkit("prune", "--dry-run", "--json", "--repo", repo, env=ENV).stdout)
    assert dry["delete_packs"] == [] and du(tmp_path / "repo") == full

    assert drkit("forget", "--keep-last", "1", "--repo", repo, env=ENV).returncode == 0
    marked = json.loads(drkit("prune", "--json", "--repo", repo, env=ENV).stdout)  # default grace: marks only
    assert marked["delete_packs"] and marked["mark"] and marked["deleted_packs"] == []
    assert du(tmp_path / "repo") >= full and marked["waiting"]
    assert drkit("restore", ids[0][:8], "--to", "-", "--repo", repo, env=ENV).returncode != 0  # forgotten
    proc = drkit("prune", "--json", "--grace", "0", "--repo", repo, env=ENV)  # no other lock: settles at once
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    was_marked = marked["delete_packs"] + marked["repack_packs"] + marked["orphan_packs"]
    assert result["bytes_freed"] > 0 and sorted(result["deleted_packs"]) == sorted(was_marked)
    assert result["pending_marks"] == 0
    assert du(tmp_path / "repo") < full * 0.75
    assert drkit("check", "--read-data", "--repo", repo, env=ENV).returncode == 0
    assert drkit("restore", ids[-1][:8], "--to", "-", "--repo", repo, env=ENV).stdout == streams[-1]
    again = json.loads(drkit("prune", "--json", "--repo", repo, env=ENV).stdout)
    assert again["delete_packs"] == [] and again["repack_packs"] == []


def test_prune_removes_packs_of_killed_backups(tmp_path: Path) -> None:
    repo = str(tmp_path / "repo")
    assert drkit("init", "--repo", repo, "--pack-size-mib", "1", env=ENV).returncode == 0
    keep = random.Random(1).randbytes(1 << 20)
    ref = backup(repo, keep)
    packs_before = len(list((tmp_path / "repo" / "data").rglob("*")))
    proc = subprocess.Popen(
        [*DRKIT, "backup", "stdin", "--name", "killed", "--repo", repo],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **ENV},
    )
    assert proc.stdin is not None
    proc.stdin.write(random.Random(2).randbytes(24 << 20))  # the stream never ends: the backup cannot finish
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while len(list((tmp_path / "repo" / "data").rglob("*"))) < packs_before + 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdin.close()
    check = json.loads(drkit("check", "--json", "--repo", repo, env=ENV).stdout)
    assert check["unreferenced_packs"], "the killed backup should have left packs behind"
    young = json.loads(drkit("prune", "--json", "--repo", repo, env=ENV).stdout)
    assert young["orphan_packs"] == []  # might belong to a running backup: left alone
    old = json.loads(drkit("prune", "--json", "--orphan-age", "0", "--grace", "0", "--repo", repo, env=ENV).stdout)
    assert sorted(old["orphan_packs"]) == sorted(check["unreferenced_packs"])
    assert json.loads(drkit("check", "--json", "--repo", repo, env=ENV).stdout)["unreferenced_packs"] == []
    assert drkit("restore", ref[:8], "--to", "-", "--repo", repo, env=ENV).stdout == keep


def listing(path: Path) -> list[tuple[str, int]]:
    """Every object's name and size (the lock a finished command removed is gone)."""
    return sorted((str(p.relative_to(path)), p.stat().st_size) for p in path.rglob("*") if p.is_file())


def test_prune_settles_a_second_run_changes_nothing(tmp_path: Path) -> None:
    """Issue 19: small fully-live packs were repacked (and marked) on every run, so the repository grew
    with each prune. A prune with nothing new to do must write, repack and delete nothing."""
    repo_dir = tmp_path / "repo"
    repo = str(repo_dir)
    assert drkit("init", "--repo", repo, "--pack-size-mib", "1", env=ENV).returncode == 0
    rnd = random.Random(19)
    shared = rnd.randbytes(1 << 20)
    streams = [
        b"tiny-1\n",
        rnd.randbytes(300 << 10) + shared,
        b"tiny-2\n",
        rnd.randbytes(2 << 20) + shared,
        b"tiny-3\n",
        rnd.randbytes(40 << 10),
    ]
    ids = [backup(repo, s) for s in streams]
    assert drkit("forget", "--keep-last", "4", "--repo", repo, env=ENV).returncode == 0
    for grace in ("1h", "0"):
        after = []
        for _ in range(3):
            proc = drkit("prune", "--json", "--grace", grace, "--repo", repo, env=ENV)
            assert proc.returncode == 0, proc.stderr
            after.append((listing(repo_dir), json.loads(proc.stdout)))
        (first, _), (second, quiet), (third, _) = after
        assert second == third, f"--grace {grace}: the third prune changed the repository"
        assert first == second, f"--grace {grace}: the second prune changed the repository"
        assert quiet["repack_packs"] == [] and quiet["mark"] is None and quiet["deleted_packs"] == []
    assert quiet["pending_marks"] == 0  # the --grace 0 runs settled the default-grace mark
    assert drkit("check", "--read-data", "--repo", repo, env=ENV).returncode == 0
    for sid, data in zip(ids[2:], streams[2:], strict=True):  # the bytes themselves, not drkit's metadata
        assert drkit("restore", sid[:8], "--to", "-", "--repo", repo, env=ENV).stdout == data
    assert drkit("restore", ids[0][:8], "--to", "-", "--repo", repo, env=ENV).returncode != 0


def test_prune_without_anything_forgotten_rewrites_the_index_once(tmp_path: Path) -> None:
    """Nothing to delete: the first prune may merge the backups' index objects into one; the next writes
    nothing at all (before, every run wrote the same index under a new name and deleted the old one)."""
    repo_dir = tmp_path / "repo"
    repo = str(repo_dir)
    assert drkit("init", "--repo", repo, env=ENV).returncode == 0
    streams = [b"one\n", random.Random(5).randbytes(200 << 10), b"three\n"]
    ids = [backup(repo, s) for s in streams]
    assert len(list((repo_dir / "index").iterdir())) == len(streams)
    seen = []
    for _ in range(3):
        proc = drkit("prune", "--json", "--grace", "0", "--repo", repo, env=ENV)
        assert proc.returncode == 0, proc.stderr
        seen.append(listing(repo_dir))
    assert len([name for name, _ in seen[0] if name.startswith("index/")]) == 1
    assert seen[0] == seen[1] == seen[2]
    for sid, data in zip(ids, streams, strict=True):
        assert drkit("restore", sid[:8], "--to", "-", "--repo", repo, env=ENV).stdout == data


def _rsync_differences(source: Path, restored: Path) -> str:
    """An oracle outside drkit: what rsync would change to make ``restored`` equal ``source``."""
    proc = subprocess.run(
        ["rsync", "-aHAXS", "--dry-run", "--checksum", "--itemize-changes", "--delete", f"{source}/", f"{restored}/"],
        capture_output=True,
        check=True,
    )
    return proc.stdout.decode()


def test_files_restore_after_repeated_prunes_matches_the_source(tmp_path: Path) -> None:
    """Files snapshots (many small blobs: small packs) restore identical to the source after prunes
    with the default grace and with --grace 0 have settled."""
    repo_dir, src = tmp_path / "repo", tmp_path / "src"
    repo = str(repo_dir)
    assert drkit("init", "--repo", repo, "--pack-size-mib", "1", env=ENV).returncode == 0
    rnd = random.Random(11)
    (src / "sub").mkdir(parents=True)
    for i in range(30):
        (src / ("sub" if i % 3 else ".") / f"f{i}").write_bytes(rnd.randbytes(rnd.randint(0, 30_000)))
    (src / "big").write_bytes(rnd.randbytes(700_000))
    (src / "link").symlink_to("sub/f1")
    os.link(src / "sub" / "f2", src / "hard")
    ids, states = [], []
    for round_ in range(3):
        if round_:
            (src / "sub" / f"f{round_}").unlink()
            (src / f"new{round_}").write_bytes(rnd.randbytes(5_000))
            (src / "big").write_bytes(rnd.randbytes(700_000))
        proc = drkit("backup", "files", str(src), "--json", "--repo", repo, env=ENV)
        assert proc.returncode == 0, proc.stderr
        ids.append(json.loads(proc.stdout)["snapshot"])
        states.append(tmp_path / f"state{round_}")
        subprocess.run(["rsync", "-aHAXS", f"{src}/", f"{states[-1]}/"], check=True)
    assert drkit("forget", "--keep-last", "2", "--repo", repo, env=ENV).returncode == 0
    for grace in ("1h", "0"):
        seen = []
        for _ in range(3):
            assert drkit("prune", "--grace", grace, "--repo", repo, env=ENV).returncode == 0
            seen.append(listing(repo_dir))
        assert seen[1] == seen[2], f"--grace {grace}: the third prune changed the repository"
    for sid, state in zip(ids[1:], states[1:], strict=True):
        out = tmp_path / f"out-{sid[:8]}"
        proc = drkit("restore", sid[:8], "--target", str(out), "--repo", repo, env=ENV)
        assert proc.returncode == 0, proc.stderr
        assert _rsync_differences(state, out / "src") == ""
