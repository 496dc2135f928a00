"""A snapshot filter (or source) that selects no snapshot answered exit 13 ("no intact snapshot matches")
whenever any snapshot manifest was skipped as damaged, even one that cannot be a snapshot the filter
selects: a genuine document of another kind copied under `snapshots/`, or a malformed snapshot document
whose readable fields rule it out. Those now give the usual "no snapshot matches" (exit 2), and do not
block `latest` either; a manifest that does not authenticate could be anything: exit 13 as before."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hostile_kit import ENV, backup, ok, plant, run

from drkit.ops.session import open_repository


def _repo(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "repo"
    ok("init", "--repo", str(repo))
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    return repo, backup(repo, src)


def _put(repo: Path, kind: str, doc: dict[str, object]) -> Path:
    """A genuine (authenticated) document, written with the repository's key."""
    opened = open_repository(str(repo), ENV["DRKIT_PASSWORD"], load_index=False)
    try:
        doc_id = opened.manifests.put(kind, doc)
    finally:
        opened.close()
    prefix = "snapshots" if kind == "snapshot" else f"manifests/{kind}"
    return repo / prefix / doc_id


def _restore(repo: Path, tmp_path: Path, *args: str) -> tuple[int, str]:
    target = tmp_path / f"r{len(list(tmp_path.iterdir()))}"
    proc = run("restore", "latest", "--target", str(target), *args, "--repo", str(repo))
    return proc.returncode, proc.stderr


def test_a_document_of_another_kind_under_snapshots_cannot_match(tmp_path: Path) -> None:
    repo, _snap = _repo(tmp_path)
    facts = _put(repo, "facts", {"snapshot": "0" * 64, "job": "j", "facts": {}})
    shutil.copy(facts, repo / "snapshots" / facts.name)  # copied there by someone with bucket access
    code, err = _restore(repo, tmp_path, "--tag", "nope")
    assert code == 2, err  # before: 13, "no intact snapshot matches 'latest'; 1 damaged skipped"
    assert "no snapshot matches 'latest' (tags nope)" in err
    code, err = _restore(repo, tmp_path)  # nor does it block latest (its stored time is the newest)
    assert code == 0, err


def test_a_malformed_snapshot_of_another_source_cannot_match_a_source_filter(tmp_path: Path) -> None:
    repo, _snap = _repo(tmp_path)
    _put(repo, "snapshot", {"source_kind": "redis", "source_name": "cache", "tags": ["prod"]})  # no root
    code, err = _restore(repo, tmp_path, "--source", "postgres")
    assert code == 2, err
    assert "no snapshot matches 'latest' (source postgres)" in err
    code, err = _restore(repo, tmp_path, "--tag", "nightly")  # its tags are readable too
    assert code == 2, err
    code, err = _restore(repo, tmp_path)  # a files restore: a redis document cannot be the files `latest`
    assert code == 0, err
    proc = run("restore", "latest", "--to", "-", "--source", "redis", "--repo", str(repo))
    assert proc.returncode == 13, proc.stderr  # this one it could be: refused as damaged


def test_an_unreadable_manifest_could_be_anything_still_exit_13(tmp_path: Path) -> None:
    repo, _snap = _repo(tmp_path)
    plant(repo, "snapshots/" + os.urandom(32).hex(), b"damaged in the bucket")
    code, err = _restore(repo, tmp_path, "--tag", "nope")
    assert code == 13, err
    assert "no intact snapshot matches 'latest'" in one_line_from(err)


def one_line_from(stderr: str) -> str:
    return next(ln for ln in stderr.splitlines() if ln.startswith("drkit: error:"))


def test_a_document_of_another_kind_does_not_block_a_point_in_time_restore(tmp_path: Path) -> None:
    repo, _snap = _repo(tmp_path)
    facts = _put(repo, "facts", {"snapshot": "0" * 64, "job": "j", "facts": {}})
    shutil.copy(facts, repo / "snapshots" / facts.name)
    proc = run(
        "restore",
        "files",
        "--point-in-time",
        "2999-01-01T00:00:00Z",
        "--target",
        str(tmp_path / "pit"),
        "--repo",
        str(repo),
    )
    assert proc.returncode == 0, proc.stderr  # before: 13, "the snapshot at … may be damaged"
    assert (tmp_path / "pit" / "src" / "a.txt").read_text() == "a\n"
