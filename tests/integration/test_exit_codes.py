"""Every documented exit code, produced by the real CLI, each with a one-line error."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from clirun import drkit, one_line_error

from drkit.repository.locks import Lock
from storage_backends import open_backend

ENV = {"DRKIT_PASSWORD": "pw-for-exit-codes"}

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    assert drkit("init", "--repo", str(path), env=ENV).returncode == 0
    return path


def test_0_and_snapshot_listing(repo: Path) -> None:
    assert drkit("backup", "stdin", "--name", "a", "--repo", str(repo), stdin=b"abc", env=ENV).returncode == 0
    proc = drkit("snapshots", "--json", "--repo", str(repo), env=ENV)
    assert proc.returncode == 0
    assert [s["source_name"] for s in json.loads(proc.stdout)] == ["a"]


def test_1_failing_stdin_command_writes_no_snapshot(repo: Path) -> None:
    proc = drkit(
        "backup",
        "stdin",
        "--name",
        "cmd",
        "--repo",
        str(repo),
        "--stdin-from-command",
        "sh -c 'head -c 100000 /dev/urandom; exit 4'",
        env=ENV,
    )
    assert proc.returncode == 1
    assert "exited with status 4" in one_line_error(proc)
    listing = json.loads(drkit("snapshots", "--json", "--repo", str(repo), env=ENV).stdout)
    assert listing == []
    ok = drkit(
        "backup",
        "stdin",
        "--name",
        "cmd",
        "--repo",
        str(repo),
        "--json",
        "--stdin-from-command",
        "printf hello",
        env=ENV,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["size"] == 5


def test_2_usage_errors(repo: Path) -> None:
    assert drkit("backup", "stdin", "--repo", str(repo), env=ENV).returncode == 2  # --name missing
    proc = drkit("restore", "ffffffff", "--to", "-", "--repo", str(repo), env=ENV)
    assert proc.returncode == 2 and "no snapshot" in one_line_error(proc)
    proc = drkit("check", "--read-data-subset", "7/3", "--repo", str(repo), env=ENV)
    assert proc.returncode == 2


@pytest.mark.parametrize("command", ["printf 'unclosed", "printf \\", "  "])
def test_2_commands_that_do_not_split(repo: Path, command: str) -> None:
    """An unbalanced quote (or nothing) in --password-command / --stdin-from-command is a usage error
    (it was an internal error, exit 1, with a traceback hint); the command is not echoed (a secret)."""
    proc = drkit("snapshots", "--repo", str(repo), "--password-command", command)
    assert proc.returncode == 2, proc.stderr
    assert "--password-command" in one_line_error(proc)
    assert command.strip() == "" or command not in proc.stderr.decode()
    proc = drkit("backup", "stdin", "--name", "c", "--repo", str(repo), "--stdin-from-command", command, env=ENV)
    assert proc.returncode == 2, proc.stderr
    assert "--stdin-from-command" in one_line_error(proc)
    assert json.loads(drkit("snapshots", "--json", "--repo", str(repo), env=ENV).stdout) == []


def test_10_init_twice_and_missing(repo: Path, tmp_path: Path) -> None:
    again = drkit("init", "--repo", str(repo), env=ENV)
    assert again.returncode == 10 and "already holds" in one_line_error(again)
    missing = drkit("check", "--repo", str(tmp_path / "none"), env=ENV)
    assert missing.returncode == 10


@pytest.mark.parametrize("verb", [("backup", "stdin", "--name", "x"), ("snapshots",), ("check",)])
def test_10_a_missing_local_repository_is_not_created(tmp_path: Path, verb: tuple[str, ...]) -> None:
    """A mistyped local path: exit 10 with one line, and nothing made there (the directory used to be)."""
    where = tmp_path / "nonexistent" / "path"
    proc = drkit(*verb, "--repo", str(where), stdin=b"data", env=ENV)
    assert proc.returncode == 10 and "no drkit repository" in one_line_error(proc)
    assert not (tmp_path / "nonexistent").exists()


def test_11_lock_conflict(repo: Path) -> None:
    with Lock(open_backend(str(repo)), exclusive=True, purpose="prune"):
        proc = drkit("backup", "stdin", "--name", "x", "--repo", str(repo), stdin=b"x", env=ENV)
    assert proc.returncode == 11
    assert "locked" in one_line_error(proc)
    assert drkit("backup", "stdin", "--name", "x", "--repo", str(repo), stdin=b"x", env=ENV).returncode == 0


def test_12_no_passphrase(repo: Path) -> None:
    proc = drkit("snapshots", "--repo", str(repo))
    assert proc.returncode == 12 and "no passphrase" in one_line_error(proc)


def test_14_unreachable_and_unwritable(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = drkit(
        "snapshots",
        "--repo",
        f"s3://b/p?endpoint=http://127.0.0.1:{port}",
        env={**ENV, "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"},
    )
    assert proc.returncode == 14, proc.stderr
    one_line_error(proc)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    proc = drkit("init", "--repo", str(ro / "repo"), env=ENV)
    if proc.returncode != 0:  # as root the directory is writable anyway
        assert proc.returncode == 14


def test_key_management(repo: Path, tmp_path: Path) -> None:
    new = tmp_path / "new-pass"
    new.write_text("second passphrase\n")
    assert drkit("key", "add", "--new-password-file", str(new), "--repo", str(repo), env=ENV).returncode == 0
    keys = json.loads(drkit("key", "list", "--json", "--repo", str(repo), env=ENV).stdout)
    assert len(keys) == 2 and sum(k["current"] for k in keys) == 1
    second = {"DRKIT_PASSWORD": "second passphrase"}
    assert drkit("snapshots", "--repo", str(repo), env=second).returncode == 0
    first_id = next(k["id"] for k in keys if k["current"])
    assert drkit("key", "remove", first_id[:8], "--repo", str(repo), env=second).returncode == 0
    assert drkit("snapshots", "--repo", str(repo), env=ENV).returncode == 12
    third = tmp_path / "third"
    third.write_text("third one")
    assert drkit("key", "passwd", "--new-password-file", str(third), "--repo", str(repo), env=second).returncode == 0
    assert drkit("snapshots", "--repo", str(repo), env=second).returncode == 12
    assert drkit("snapshots", "--repo", str(repo), env={"DRKIT_PASSWORD": "third one"}).returncode == 0


def test_read_data_subset(repo: Path) -> None:
    import random

    for i in range(3):
        drkit("backup", "stdin", "--name", f"s{i}", "--repo", str(repo), stdin=random.randbytes(1 << 20), env=ENV)
    total = 0
    for n in (1, 2, 3):
        proc = drkit("check", "--read-data-subset", f"{n}/3", "--json", "--repo", str(repo), env=ENV)
        assert proc.returncode == 0
        total += json.loads(proc.stdout)["packs_checked"]
    full = json.loads(drkit("check", "--read-data", "--json", "--repo", str(repo), env=ENV).stdout)
    assert total == full["packs_checked"] >= 3
