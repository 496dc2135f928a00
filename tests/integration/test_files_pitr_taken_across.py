"""`restore files --point-in-time T` restores the state as of T: the newest snapshot that had *finished*
by T. A backup still running at T reads some files after T (seen by hand: a file rewritten one second
after T came back with the later bytes when the newest snapshot *started* by T was taken): it is passed
over, named on stderr with its ID, which restores it. Oracles: the restored file's sha256 against the
file's bytes at T, and rsync -aHAXS --checksum of the whole tree against a copy of what the chosen
snapshot read."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clirun import drkit
from treediff import rsync_diff

from drkit.core.concurrency import Tuning
from drkit.core.timespec import format_time
from drkit.ops.session import open_repository
from drkit.repository import pointintime, snapshots
from drkit.sources.files.ops import BackupRequest, backup_files

PW = "taken-across"
ENV = {"DRKIT_PASSWORD": PW}
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync (scripts/install.sh)"),
]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_snapshot_still_running_at_t_is_not_the_state_at_t(tmp_path: Path) -> None:
    src, repo_dir = tmp_path / "src", str(tmp_path / "repo")
    (src / "zdir").mkdir(parents=True)
    (src / "a").write_text("a, first\n")
    (src / "zdir" / "z").write_text("z as it was at T\n")
    assert drkit("init", "--repo", repo_dir, env=ENV).returncode == 0
    repo = open_repository(repo_dir, PW)
    repo.tuning = Tuning(workers=1)  # no reader threads: the walk reads zdir/z itself, after the hook ran
    first = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    read_by_first = tmp_path / "read-by-first"
    subprocess.run(["rsync", "-aHAXS", f"{src}/", f"{read_by_first}/"], check=True, timeout=120)
    (src / "a").write_text("a, changed before the second backup\n")  # so that the second backup reads it
    at_t: dict[str, str] = {}

    def after_t(path: str, how: str) -> None:  # a is read before the walk enters zdir
        if path.endswith("/a") and not at_t:
            at_t["sha"], at_t["T"] = _sha(src / "zdir" / "z"), format_time(datetime.now(UTC))
            (src / "zdir" / "z").write_text("z written after T, while the backup ran\n")

    second = backup_files(repo, BackupRequest(paths=[str(src)], on_read=after_t)).snapshot
    point = at_t["T"]
    assert pointintime.started(second) <= datetime.fromisoformat(point) < pointintime.finished(second)
    by_id = tmp_path / "by-id"  # the second snapshot does hold the post-T bytes: what T must not restore
    assert drkit("restore", "files", "--repo", repo_dir, second.id, "--target", str(by_id), env=ENV).returncode == 0
    assert _sha(by_id / "src" / "zdir" / "z") != at_t["sha"]

    out = tmp_path / "at-t"
    proc = drkit("restore", "files", "--repo", repo_dir, "--point-in-time", point, "--target", str(out), env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    assert _sha(out / "src" / "zdir" / "z") == at_t["sha"]
    assert rsync_diff(read_by_first, out / "src") == []
    [note] = [line for line in proc.stderr.decode().splitlines() if "still being taken" in line]
    assert second.short_id in note and first.short_id not in note, note

    later = format_time(pointintime.finished(second))  # once it finished, it is the snapshot at T
    assert snapshots.find(repo.manifests, "latest").id == second.id
    out2 = tmp_path / "at-end"
    proc = drkit("restore", "files", "--repo", repo_dir, "--point-in-time", later, "--target", str(out2), env=ENV)
    assert proc.returncode == 0 and "still being taken" not in proc.stderr.decode(), proc.stderr.decode()
    assert rsync_diff(by_id / "src", out2 / "src") == []


def test_no_snapshot_finished_by_t_is_refused_naming_the_running_one(tmp_path: Path) -> None:
    src, repo_dir = tmp_path / "src", str(tmp_path / "repo")
    src.mkdir()
    (src / "f").write_text("content\n")
    assert drkit("init", "--repo", repo_dir, env=ENV).returncode == 0
    assert drkit("backup", "files", "--repo", repo_dir, str(src), env=ENV).returncode == 0
    [snap] = snapshots.load_all(open_repository(repo_dir, PW).manifests)
    point = format_time(pointintime.started(snap))  # it was being taken then
    out = tmp_path / "out"
    proc = drkit("restore", "files", "--repo", repo_dir, "--point-in-time", point, "--target", str(out), env=ENV)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "no files snapshot finished at or before" in err and snap.short_id in err, err
    assert not out.exists()
