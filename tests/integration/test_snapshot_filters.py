"""`--host`, `--tag`, `--path`, `--source` on `snapshots`, `ls`, `restore` and `forget` (issue #26): one filter,
the same answers everywhere; a restore chosen by filter is compared with its source by rsync."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from clirun import drkit, one_line_error

ENV = {"DRKIT_PASSWORD": "correct horse"}
pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync (scripts/install.sh)")


def _ok(*args: str, stdin: bytes | None = None) -> bytes:
    proc = drkit(*args, env=ENV, stdin=stdin)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def _ids(repo: str, *filters: str) -> list[str]:
    return [s["id"] for s in json.loads(_ok("snapshots", "--repo", repo, "--json", *filters))]


@pytest.fixture
def repo3(tmp_path: Path) -> tuple[str, Path, Path, dict[str, str]]:
    """A repository with a files snapshot of A (tags t1, prod), then of B (t2), then a stream (prod)."""
    repo = str(tmp_path / "repo")
    a, b = tmp_path / "a", tmp_path / "b"
    for tree, n in ((a, 3), (b, 5)):
        (tree / "sub").mkdir(parents=True)
        for i in range(n):
            (tree / "sub" / f"f{i}").write_bytes(f"{tree.name}{i}".encode() * 999)
    _ok("init", "--repo", repo)
    ids = {
        "a": json.loads(_ok("backup", "files", str(a), "--repo", repo, "--json", "--tag", "t1", "--tag", "prod"))[
            "snapshot"
        ],
        "b": json.loads(_ok("backup", "files", str(b), "--repo", repo, "--json", "--tag", "t2"))["snapshot"],
    }
    _ok("backup", "stdin", "--name", "dump", "--tag", "prod", "--repo", repo, stdin=b"stream bytes\n")
    ids["s"] = _ids(repo, "--source", "stdin")[0]
    return repo, a, b, ids


def test_snapshots_filters(repo3: tuple[str, Path, Path, dict[str, str]]) -> None:
    repo, a, b, ids = repo3
    assert _ids(repo, "--tag", "prod") == [ids["a"], ids["s"]]
    assert _ids(repo, "--tag", "t1,prod") == [ids["a"]]
    assert _ids(repo, "--tag", "t1,t2") == []
    assert _ids(repo, "--tag", "t1", "--tag", "t2") == [ids["a"], ids["b"]]
    assert _ids(repo, "--path", str(a)) == [ids["a"]]
    assert _ids(repo, "--path", str(a), "--path", str(b)) == []
    assert _ids(repo, "--source", "files", "--tag", "prod") == [ids["a"]]
    assert _ids(repo, "--host", "no-such-host") == []
    assert _ids(repo, "--host", "no-such-host", "--host", socket.gethostname()) == [ids["a"], ids["b"], ids["s"]]


def test_ls_and_restore_pick_latest_by_filter(repo3: tuple[str, Path, Path, dict[str, str]], tmp_path: Path) -> None:
    repo, a, _b, ids = repo3
    listing = _ok("ls", "latest", "--repo", repo, "--path", str(a)).decode().split()
    assert "/a/sub/f2" in listing and "/b/sub/f4" not in " ".join(listing)
    out = tmp_path / "out"
    _ok("restore", "latest", "--target", str(out), "--repo", repo, "--tag", "t1")
    proc = subprocess.run(
        ["rsync", "-aHAX", "--dry-run", "--checksum", "--itemize-changes", f"{a}/", f"{out}/a/"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout == ""
    assert _ok("restore", "latest", "--to", "-", "--repo", repo, "--tag", "prod") == b"stream bytes\n"
    bad = drkit("restore", ids["b"][:8], "--target", str(tmp_path / "x"), "--repo", repo, "--path", str(a), env=ENV)
    assert bad.returncode == 2 and "does not match the filter" in one_line_error(bad)
    none = drkit("ls", "latest", "--repo", repo, "--host", "no-such-host", env=ENV)
    assert none.returncode == 2 and "no snapshot matches 'latest' (host no-such-host)" in one_line_error(none)
    assert not (tmp_path / "x").exists()


def test_forget_only_within_filter(repo3: tuple[str, Path, Path, dict[str, str]]) -> None:
    repo, _a, _b, ids = repo3
    plan = json.loads(_ok("forget", "--keep-tag", "t2", "--tag", "t1", "--tag", "t2", "--repo", repo, "--json"))
    assert {d["id"]: d["keep"] for d in plan["decisions"]} == {ids["a"]: False, ids["b"]: True}
    assert _ids(repo) == [ids["b"], ids["s"]]


def test_forget_with_an_empty_tag_value_touches_only_untagged(repo3: tuple[str, Path, Path, dict[str, str]]) -> None:
    """`forget --keep-last 1 --tag "$UNSET"`: '' selects snapshots without tags (restic's meaning); it used to be
    dropped, widening the policy to every snapshot, all tagged here, and forgetting all but the last."""
    repo, _a, _b, ids = repo3
    _ok("backup", "stdin", "--name", "untagged", "--repo", repo, stdin=b"no tags\n")
    untagged = _ids(repo, "--tag", "")
    assert len(untagged) == 1 and untagged[0] not in ids.values()
    _ok("forget", "--keep-last", "1", "--tag", "", "--repo", repo)
    assert _ids(repo) == [ids["a"], ids["b"], ids["s"], untagged[0]]


@pytest.mark.parametrize("option", ["--source", "--path"])
def test_an_empty_source_or_path_is_a_usage_error_not_ignored(
    repo3: tuple[str, Path, Path, dict[str, str]], option: str
) -> None:
    """`--source "$UNSET"`: '' was ignored where a command asks whether there is a filter (`snapshots` listed
    every snapshot) and selected nothing elsewhere (`forget` exit 0, nothing done); `--path ''` meant the
    working directory. Now both are usage errors (exit 2) everywhere."""
    repo, _a, _b, ids = repo3
    for args in (["forget", "--keep-last", "1"], ["snapshots"], ["restore", "latest", "--target", "/tmp/x"]):
        proc = drkit(*args, option, "", "--repo", repo, env=ENV)
        assert proc.returncode == 2, proc.stderr.decode()
        assert f"{option} is empty" in one_line_error(proc)
    assert _ids(repo) == [ids["a"], ids["b"], ids["s"]]  # nothing forgotten
