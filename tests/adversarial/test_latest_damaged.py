"""`restore latest` when the newest snapshot's manifest is damaged: it used to restore the next older
snapshot with exit 0 and a warning (a silent wrong restore). It refuses (exit 13) naming the damaged
object and the newest intact snapshot, unless --skip-damaged asks for the fallback; the fallback then
restores exactly the older snapshot (rsync / sha256, independent of drkit)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

from hostile_kit import DRKIT, ENV, backup, ok, one_line, plant, run, same_tree


def _two_trees(tmp_path: Path) -> tuple[Path, Path, str, str]:
    repo = tmp_path / "repo"
    ok("init", "--repo", str(repo))
    old, new = tmp_path / "old" / "data", tmp_path / "new" / "data"
    for i, src in enumerate((old, new)):
        (src / "sub").mkdir(parents=True)
        (src / "a.txt").write_text(f"version {i}\n" * 50)
        (src / "sub" / "b.bin").write_bytes(os.urandom(50_000))
    first = backup(repo, old)
    second = backup(repo, new)
    return repo, old, first, second


def test_restore_latest_refuses_a_fallback_past_a_damaged_newest(tmp_path: Path) -> None:
    repo, old, first, second = _two_trees(tmp_path)
    plant(repo, f"snapshots/{second}", b"damaged in the bucket")
    proc = run("restore", "latest", "--target", str(tmp_path / "r"), "--repo", str(repo))
    line = one_line(proc, 13)
    assert second[:16] in line, line
    assert f"hint: the newest intact one is {first[:8]}" in proc.stderr, proc.stderr
    assert "--skip-damaged" in proc.stderr
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
    proc = run("restore", "files", "latest", "--target", str(tmp_path / "r2"), "--repo", str(repo))
    assert second[:16] in one_line(proc, 13)


def test_skip_damaged_restores_the_newest_intact_snapshot_exactly(tmp_path: Path) -> None:
    repo, old, _first, second = _two_trees(tmp_path)
    plant(repo, f"snapshots/{second}", b"damaged in the bucket")
    ok("restore", "latest", "--skip-damaged", "--target", str(tmp_path / "r"), "--repo", str(repo))
    same_tree(old, tmp_path / "r" / "data")


def test_an_older_damaged_snapshot_does_not_block_latest(tmp_path: Path) -> None:
    repo, _old, first, second = _two_trees(tmp_path)
    plant(repo, f"snapshots/{first}", b"damaged in the bucket")
    os.utime(repo / "snapshots" / first, (0, 0))  # stored long before the newest snapshot started
    ok("restore", "latest", "--target", str(tmp_path / "r"), "--repo", str(repo))
    same_tree(tmp_path / "new" / "data", tmp_path / "r" / "data")


def _stream(repo: Path, data: bytes) -> str:
    proc = subprocess.run(
        [*DRKIT, "backup", "stdin", "--name", "s", "--repo", str(repo), "--json"],
        input=data,
        capture_output=True,
        env={**os.environ, **ENV},
        timeout=120,
        check=True,
    )
    return str(json.loads(proc.stdout)["snapshot"])


def test_stream_restore_latest_refuses_then_falls_back_on_request(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    ok("init", "--repo", str(repo))
    old_data, new_data = os.urandom(300_000), os.urandom(300_000)
    _stream(repo, old_data)
    newest = _stream(repo, new_data)
    plant(repo, f"snapshots/{newest}", b"damaged in the bucket")
    out = tmp_path / "out.bin"
    assert newest[:16] in one_line(run("restore", "latest", "--to", str(out), "--repo", str(repo)), 13)
    assert not out.exists()
    ok("restore", "latest", "--skip-damaged", "--to", str(out), "--repo", str(repo))
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(old_data).hexdigest()


def test_a_backup_host_clock_ahead_of_the_storage_does_not_hide_a_damaged_newer_snapshot(tmp_path: Path) -> None:
    """The intact snapshot's times come from a host clock an hour ahead; the damaged one is dated by
    the storage. Its start by the storage's clock (stored time less duration) still places the damaged
    one after it."""
    from dataclasses import replace
    from datetime import datetime, timedelta

    from hostile_kit import open_repo

    from drkit.repository import snapshots

    repo, _old, first, second = _two_trees(tmp_path)
    store = open_repo(repo).manifests
    snap = snapshots.find(store, second)
    ahead = timedelta(hours=1)
    skewed = replace(
        snap,
        id="",
        time=(datetime.fromisoformat(snap.time) + ahead).isoformat(),
        end_time=(datetime.fromisoformat(snap.end_time) + ahead).isoformat(),
    )
    skewed_id = snapshots.save(store, skewed).id
    (repo / "snapshots" / second).unlink()
    damaged = "cd" * 32
    plant(repo, f"snapshots/{damaged}", b"written after the skewed snapshot, dated by the storage")
    of_new = ("--path", str(tmp_path / "new" / "data"))  # `latest` of one source: old/data is another
    proc = run("restore", "latest", *of_new, "--target", str(tmp_path / "r"), "--repo", str(repo))
    line = one_line(proc, 13)
    assert damaged[:16] in line and skewed_id[:8] in proc.stderr, proc.stderr


def test_a_filter_does_not_hide_a_damaged_newer_snapshot(tmp_path: Path) -> None:
    """`latest --path/--host` (merge of the snapshot filters): a damaged manifest's paths and host are unknown,
    so one stored after the newest snapshot the filter selects may be the one asked for: refused (exit 13);
    --skip-damaged restores the filtered one exactly."""
    repo, old, first, second = _two_trees(tmp_path)
    plant(repo, f"snapshots/{second}", b"damaged in the bucket")
    only_old = ("--path", str(old), "--host", os.uname().nodename)
    proc = run("restore", "latest", *only_old, "--target", str(tmp_path / "r"), "--repo", str(repo))
    assert second[:16] in one_line(proc, 13)
    ok("restore", "latest", *only_old, "--skip-damaged", "--target", str(tmp_path / "r2"), "--repo", str(repo))
    same_tree(old, tmp_path / "r2" / "data")
    os.utime(repo / "snapshots" / second, (0, 0))  # stored long before: no longer a candidate
    ok("restore", "files", "latest", *only_old, "--target", str(tmp_path / "r3"), "--repo", str(repo))
    same_tree(old, tmp_path / "r3" / "data")
