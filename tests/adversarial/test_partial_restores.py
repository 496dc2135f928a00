"""Two silent partial or wrong restores (review findings).

1. A snapshot written by `drkit repair snapshots` lacks the files its repair dropped, yet every restore of
   it exited 0 without a word, and `latest` chose between it and its original (same time) by id alone.
   Every restore of a repaired snapshot now warns (how many paths dropped, the first few) and exits 3, with
   `--json` carrying it; `latest` is the repair, always. What it restores is the source less exactly the
   dropped paths (rsync, independent of drkit).
2. `restore files --point-in-time T` fell back to an older snapshot with exit 0 when the manifest of the
   one at T was damaged. It refuses (exit 13) as `restore latest` does; --skip-damaged restores the older
   one, exactly.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hostile_kit import backup, ok, one_line, plant, repaired_restore, run, same_tree
from test_repair_snapshots import _expected, _files_repo, _lose_big_file_pack


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _repaired_repo(tmp_path: Path) -> tuple[Path, Path, str, str]:
    """A files snapshot with one file's data lost, repaired (the original kept, as without --forget)."""
    repo, src, original = _files_repo(tmp_path)
    _lose_big_file_pack(repo, src)
    ok("repair", "index", "--repo", str(repo))
    [entry] = json.loads(ok("repair", "snapshots", "--json", "--repo", str(repo)))["snapshots"]
    assert entry["status"] == "repaired", entry
    return repo, src, original, str(entry["new_id"])


def _restored_less_the_dropped(src: Path, tmp_path: Path, target: Path) -> None:
    want = tmp_path / "want" / src.name
    same_tree(want if want.exists() else _expected(src, tmp_path), target / src.name)
    assert (src / "lost" / "big.bin").exists() and not (target / src.name / "lost" / "big.bin").exists()


def test_every_restore_of_a_repaired_snapshot_says_what_it_lacks(tmp_path: Path) -> None:
    repo, src, original, repaired = _repaired_repo(tmp_path)
    shapes = {
        "by-id": ("restore", repaired[:8]),
        "files-by-id": ("restore", "files", repaired),
        "latest": ("restore", "latest"),
        "files-latest": ("restore", "files", "latest"),
        "point-in-time": ("restore", "files", "--point-in-time", _now()),
    }
    for name, args in shapes.items():
        target = tmp_path / name
        proc = run(*args, "--target", str(target), "--repo", str(repo))
        assert one_line(proc, 3).startswith(f"drkit: error: snapshot {repaired[:8]} restored without the 1 paths")
        assert f"warning: snapshot is a repair of {original[:8]}: 1 paths dropped" in proc.stderr, proc.stderr
        assert "(/data/lost/big.bin)" in proc.stderr, proc.stderr
        _restored_less_the_dropped(src, tmp_path, target)


def test_json_carries_the_repair_and_latest_is_the_repair(tmp_path: Path) -> None:
    repo, src, original, repaired = _repaired_repo(tmp_path)
    for attempt in range(3):  # deterministic: the same answer every time, whatever the ids
        target = tmp_path / f"r{attempt}"
        out = json.loads(
            repaired_restore("restore", "files", "latest", "--json", "--target", str(target), "--repo", str(repo))
        )
        assert out["snapshot"] == repaired, (out["snapshot"], original, repaired)
        assert out["repaired"]["original"] == original and out["repaired"]["dropped_count"] == 1
        assert [d.split(":")[0] for d in out["repaired"]["dropped"]] == ["/data/lost/big.bin"]
        _restored_less_the_dropped(src, tmp_path, target)


def test_latest_prefers_the_repair_whichever_id_sorts_first(tmp_path: Path) -> None:
    """Ids are hashes: plant repairs until one sorts before its original and one after; `latest` is the
    repair of the newest generation in both repositories (by id alone, one of them would be the original)."""
    from dataclasses import replace

    from hostile_kit import open_repo

    from drkit.repository import snapshots

    repo, _src, original, repaired = _repaired_repo(tmp_path)
    store = open_repo(repo).manifests
    snap = snapshots.find(store, repaired)
    (repo / "snapshots" / repaired).unlink()
    seen: dict[bool, str] = {}
    for nonce in range(64):
        planted = snapshots.save(store, replace(snap, id="", meta={**snap.meta, "nonce": nonce})).id
        if (planted < original) in seen:
            (repo / "snapshots" / planted).unlink()
            continue
        seen[planted < original] = planted
        picked = snapshots.find(open_repo(repo).manifests, "latest")
        assert picked.meta.get("repaired_from") == original, (picked.id, original)
        (repo / "snapshots" / planted).unlink()
        if len(seen) == 2:
            return
    raise AssertionError("no id on both sides of the original in 64 tries")


def _two_trees(tmp_path: Path) -> tuple[Path, Path, str, str]:
    repo = tmp_path / "repo"
    ok("init", "--repo", str(repo))
    old, new = tmp_path / "old" / "data", tmp_path / "new" / "data"
    for i, src in enumerate((old, new)):
        (src / "sub").mkdir(parents=True)
        (src / "a.txt").write_text(f"version {i}\n" * 50)
        (src / "sub" / "b.bin").write_bytes(os.urandom(50_000))
    return repo, old, backup(repo, old), backup(repo, new)


def test_point_in_time_refuses_a_fallback_past_a_damaged_snapshot(tmp_path: Path) -> None:
    repo, old, first, second = _two_trees(tmp_path)
    plant(repo, f"snapshots/{second}", b"damaged in the bucket")
    when = _now()
    proc = run("restore", "files", "--point-in-time", when, "--target", str(tmp_path / "r"), "--repo", str(repo))
    assert second[:16] in one_line(proc, 13)
    assert f"the newest intact one is {first[:8]}" in proc.stderr and "--skip-damaged" in proc.stderr
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
    ok(
        "restore",
        "files",
        "--point-in-time",
        when,
        "--skip-damaged",
        "--target",
        str(tmp_path / "r2"),
        "--repo",
        str(repo),
    )
    same_tree(old, tmp_path / "r2" / "data")


def test_point_in_time_before_the_damaged_one_was_stored_is_not_blocked(tmp_path: Path) -> None:
    """A damaged manifest stored well after T (or before the chosen snapshot started) cannot be the
    snapshot at T: the restore goes ahead, exactly."""
    repo, old, _first, second = _two_trees(tmp_path)
    when = _now()
    plant(repo, f"snapshots/{second}", b"damaged in the bucket")
    later = (datetime.now(UTC) + timedelta(hours=1)).timestamp()
    os.utime(repo / "snapshots" / second, (later, later))
    ok("restore", "files", "--point-in-time", when, "--target", str(tmp_path / "r"), "--repo", str(repo))
    same_tree(old, tmp_path / "r" / "data")
    os.utime(repo / "snapshots" / second, (0, 0))
    ok("restore", "files", "--point-in-time", _now(), "--target", str(tmp_path / "r2"), "--repo", str(repo))
    same_tree(old, tmp_path / "r2" / "data")


def test_point_in_time_with_only_a_damaged_snapshot_is_damage_not_a_usage_error(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    ok("init", "--repo", str(repo))
    src = tmp_path / "src" / "data"
    src.mkdir(parents=True)
    (src / "a.txt").write_text("only\n")
    only = backup(repo, src)
    plant(repo, f"snapshots/{only}", b"damaged in the bucket")
    proc = run("restore", "files", "--point-in-time", _now(), "--target", str(tmp_path / "r"), "--repo", str(repo))
    assert only[:16] in one_line(proc, 13)


def test_a_files_drill_of_a_repaired_snapshot_fails_its_check(tmp_path: Path) -> None:
    """The drill restores the repair and its tree compares equal (the tree lacks the file too): without a
    check of its own the drill passed a snapshot that does not hold what was backed up."""
    from hostile_kit import PASSWORD, open_repo

    from drkit.config.models import JobConfig
    from drkit.drills.context import DrillContext
    from drkit.sources.files.drills.drill import drill_files

    repo, src, original, repaired = _repaired_repo(tmp_path)
    job = JobConfig.model_validate({"source": {"kind": "files", "paths": [str(src)]}})
    workdir = tmp_path / "drill"
    workdir.mkdir()
    ctx = DrillContext(
        name=str(src),
        job=job,
        repo=open_repo(repo),
        repo_url=str(repo),
        passphrase=PASSWORD,
        sandbox="local",
        workdir=workdir,
        snapshot=repaired,
    )
    out = drill_files(ctx)
    checks = {c.name: c for c in out.checks}
    assert not checks["files.repaired"].ok and original[:8] in checks["files.repaired"].detail, checks
    assert all(c.ok for n, c in checks.items() if n != "files.repaired"), {n: c.detail for n, c in checks.items()}
    _restored_less_the_dropped(src, tmp_path, workdir / "restore")
