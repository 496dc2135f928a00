"""`drkit tag --add/--remove/--set` (issue #26): a retag writes a new snapshot document (meta.original names the
first id) and removes the old one; the data stays live through prune (restore compared by rsync); bad input is
one line and exit 2; a snapshot under object lock is refused (exit 14) with nothing changed."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit, one_line_error

from drkit.ops.facts import load_facts, save_facts
from drkit.ops.secrets import PassphraseSource
from drkit.ops.session import open_repository

ENV = {"DRKIT_PASSWORD": "correct horse"}


def _ok(*args: str, stdin: bytes | None = None) -> bytes:
    proc = drkit(*args, env=ENV, stdin=stdin)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def _snaps(repo: str) -> list[dict[str, Any]]:
    return list(json.loads(_ok("snapshots", "--repo", repo, "--json")))


@pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync (scripts/install.sh)")
def test_tag_add_remove_set_keeps_data(tmp_path: Path) -> None:
    repo, src = str(tmp_path / "repo"), tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(20):
        (src / "d" / f"f{i}").write_bytes(bytes([i]) * (5000 + i * 3000))
    _ok("init", "--repo", repo)
    first = json.loads(_ok("backup", "files", str(src), "--repo", repo, "--json", "--tag", "a"))["snapshot"]
    added = json.loads(_ok("tag", first[:8], "--add", "b", "--add", "c", "--add", "a", "--repo", repo, "--json"))
    assert added[0]["old_id"] == first and added[0]["changed"] and added[0]["tags"] == ["a", "b", "c"]
    second = added[0]["new_id"]
    (snap,) = _snaps(repo)
    assert (snap["id"], snap["tags"], snap["meta"]["original"]) == (second, ["a", "b", "c"], first)
    assert _ok("tag", "latest", "--remove", "a", "--repo", repo).decode().startswith(f"snapshot {second[:8]} -> ")
    (snap,) = _snaps(repo)
    assert snap["tags"] == ["b", "c"] and snap["meta"]["original"] == first  # the first id, across retags
    same = json.loads(_ok("tag", "latest", "--add", "b", "--repo", repo, "--json"))
    assert same == [{"old_id": snap["id"], "new_id": snap["id"], "changed": False, "tags": ["b", "c"]}]
    _ok("tag", "latest", "--set", "x", "--set", "y", "--repo", repo)
    assert _snaps(repo)[0]["tags"] == ["x", "y"]
    _ok("tag", "latest", "--set", "", "--repo", repo)
    assert _snaps(repo)[0]["tags"] == []

    _ok("prune", "--grace", "0", "--repo", repo)
    _ok("check", "--read-data", "--repo", repo)
    _ok("restore", "latest", "--target", str(tmp_path / "out"), "--repo", repo)
    proc = subprocess.run(
        ["rsync", "-aHAX", "--dry-run", "--checksum", "--itemize-changes", f"{src}/", f"{tmp_path / 'out' / 'src'}/"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["latest"], "give --add, --remove or --set"),
        (["latest", "--add", "a,b"], "invalid tag 'a,b'"),
        (["ffff0000", "--add", "a"], "no snapshot with id 'ffff0000'"),
    ],
)
def test_tag_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    repo = str(tmp_path / "repo")
    _ok("init", "--repo", repo)
    _ok("backup", "stdin", "--name", "s", "--repo", repo, stdin=b"x")
    before = _snaps(repo)
    proc = drkit("tag", *args, "--repo", repo, env=ENV)
    assert proc.returncode == 2 and message in one_line_error(proc)
    assert _snaps(repo) == before


def test_tag_keeps_the_facts_a_drill_compares_with(tmp_path: Path) -> None:
    """The backup-time facts of a retagged snapshot are found under its new id (a drill needs them)."""
    repo, secret = str(tmp_path / "repo"), tmp_path / "pw"
    secret.write_text(ENV["DRKIT_PASSWORD"])
    _ok("init", "--repo", repo)
    first = json.loads(_ok("backup", "stdin", "--name", "db", "--json", "--repo", repo, stdin=b"rows"))["snapshot"]
    handle = open_repository(repo, PassphraseSource(file=secret))
    save_facts(handle, first, "app-db", {"rows": 42})
    handle.close()
    (done,) = json.loads(_ok("tag", "latest", "--add", "keep", "--repo", repo, "--json"))
    assert done["changed"] and done["new_id"] != first
    handle = open_repository(repo, PassphraseSource(file=secret))
    try:
        assert load_facts(handle, done["new_id"]) == {"rows": 42}
    finally:
        handle.close()


def test_tag_waits_for_no_forget_or_prune(tmp_path: Path) -> None:
    """A running forget or prune (a live maintenance lock of another host) makes tag fail with exit 11, unchanged."""
    repo = tmp_path / "repo"
    _ok("init", "--repo", str(repo))
    _ok("backup", "stdin", "--name", "s", "--repo", str(repo), stdin=b"x")
    before = _snaps(str(repo))
    now = time.time()
    lock = {
        "host": "elsewhere",
        "pid": 4242,
        "username": "op",
        "exclusive": False,
        "created": now,
        "view": now,
        "expires": now + 1800,
        "purpose": "prune",
        "maintenance": True,
    }
    (repo / "locks" / ("ab" * 16)).write_text(json.dumps(lock))
    proc = drkit("tag", "latest", "--add", "b", "--repo", str(repo), env=ENV)
    assert proc.returncode == 11 and "locked" in one_line_error(proc)
    assert _snaps(str(repo)) == before


@pytest.mark.integration
def test_tag_refuses_locked_snapshot(seaweedfs_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seaweedfs_server.apply_env(monkeypatch)
    bucket = seaweedfs_server.make_bucket("drkit-tag", object_lock=True)
    url = seaweedfs_server.url(bucket, uuid.uuid4().hex[:10])
    _ok("init", "--repo", url, "--immutable-days", "1")
    _ok("backup", "stdin", "--name", "s", "--tag", "a", "--repo", url, stdin=b"locked data")
    before = _snaps(url)
    proc = drkit("tag", "latest", "--add", "b", "--repo", url, env=ENV)
    assert proc.returncode == 14 and "is locked until" in one_line_error(proc)
    assert _snaps(url) == before
