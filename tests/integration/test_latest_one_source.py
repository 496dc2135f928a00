"""`latest` (and a files point in time) in a repository holding backups of several sources: `backup files
/etc`-like then `backup files /home`-like. `restore latest --target T` used to restore the newest of all,
the other source's tree, without a word. Now it refuses (exit 2, one line naming the sources and how to
choose), and once chosen (`--path`) it says which snapshot it took and restores that tree (rsync oracle)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clirun import DRKIT, drkit, one_line_error
from treediff import rsync_diff

ENV = {"DRKIT_PASSWORD": "pw-for-latest-one-source"}


def _ok(*args: str, stdin: bytes | None = None) -> bytes:
    proc = drkit(*args, env=ENV, stdin=stdin)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


@pytest.fixture
def two_trees(tmp_path: Path) -> tuple[str, Path, Path, str]:
    """A repository with a backup of ``etc`` and then one of ``home`` (newer): the id of etc's snapshot."""
    repo, etc, home = str(tmp_path / "repo"), tmp_path / "src" / "etc", tmp_path / "src" / "home"
    (etc / "ssh").mkdir(parents=True)
    (etc / "ssh" / "sshd_config").write_bytes(os.urandom(3000))
    (etc / "hosts").write_text("127.0.0.1 localhost\n")
    (home / "u").mkdir(parents=True)
    (home / "u" / "notes.txt").write_bytes(os.urandom(5000))
    _ok("init", "--repo", repo)
    first = json.loads(_ok("backup", "files", str(etc), "--repo", repo, "--json"))
    _ok("backup", "files", str(home), "--repo", repo)
    return repo, etc, home, first["snapshot"]


@pytest.mark.parametrize(
    "command",
    [
        ("restore", "latest", "--target", "{t}"),
        ("restore", "files", "latest", "--target", "{t}"),
        ("restore", "files", "--point-in-time", "{now}", "--target", "{t}"),
        ("ls", "latest"),
        ("dump", "latest", "/etc/hosts"),
    ],
)
def test_latest_among_two_sources_is_refused(
    two_trees: tuple[str, Path, Path, str], tmp_path: Path, command: tuple[str, ...]
) -> None:
    repo, etc, home, _ = two_trees
    target = tmp_path / "t"
    now = datetime.now(UTC).isoformat()
    proc = drkit(*(c.format(t=target, now=now) for c in command), "--repo", repo, env=ENV)
    assert proc.returncode == 2, proc.stderr.decode()
    line = one_line_error(proc)
    assert "ambiguous" in line and str(etc) in line and str(home) in line, line
    assert "--path" in proc.stderr.decode()  # how to choose
    assert not target.exists() and proc.stdout == b""  # nothing written


def test_latest_of_the_chosen_source_is_said_and_restored(
    two_trees: tuple[str, Path, Path, str], tmp_path: Path
) -> None:
    repo, etc, _, etc_snapshot = two_trees
    target = tmp_path / "t"
    proc = drkit("restore", "latest", "--target", str(target), "--path", str(etc), "--repo", repo, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    said = [ln for ln in proc.stderr.decode().splitlines() if ln.startswith(f"restored snapshot {etc_snapshot[:8]} ")]
    assert len(said) == 1 and f"of files:{etc} (host " in said[0] and f"paths {etc}" in said[0], proc.stderr.decode()
    assert sorted(os.listdir(target)) == ["etc"]  # etc's tree, not home's
    assert rsync_diff(etc, target / "etc") == []


def test_point_in_time_of_the_chosen_source(two_trees: tuple[str, Path, Path, str], tmp_path: Path) -> None:
    repo, etc, home, _ = two_trees
    home_snapshot = json.loads(_ok("snapshots", "--path", str(home), "--repo", repo, "--json"))[0]["id"]
    target, now = tmp_path / "t", datetime.now(UTC).isoformat()
    args = ("restore", "files", "--point-in-time", now, "--source-name", str(home), "--target", str(target))
    proc = drkit(*args, "--repo", repo, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    assert f"restored snapshot {home_snapshot[:8]} of files:{home} (host " in proc.stderr.decode()
    assert rsync_diff(home, target / "home") == []


def test_stream_latest_is_of_the_streams_and_of_one_name(tmp_path: Path) -> None:
    """`restore latest --to F` takes the newest *stream* (a files snapshot after it is not in the way) and
    refuses between two stream names."""
    repo, src = str(tmp_path / "repo"), tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    data = os.urandom(70_000)
    _ok("init", "--repo", repo)
    _ok("backup", "stdin", "--name", "db", "--repo", repo, stdin=data)
    _ok("backup", "files", str(src), "--repo", repo)
    out = tmp_path / "out"
    proc = drkit("restore", "latest", "--to", str(out), "--repo", repo, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    assert "restored snapshot " in proc.stderr.decode() and " of stdin:db (host " in proc.stderr.decode()
    assert out.read_bytes() == data
    piped = drkit("restore", "latest", "--to", "-", "--repo", repo, env=ENV)  # said on stderr: stdout is the data
    assert piped.returncode == 0 and piped.stdout == data and "latest: snapshot " in piped.stderr.decode()
    _ok("backup", "stdin", "--name", "other", "--repo", repo, stdin=b"other bytes")
    proc = drkit("restore", "latest", "--to", "-", "--repo", repo, env=ENV)
    assert proc.returncode == 2 and proc.stdout == b""
    assert "ambiguous" in one_line_error(proc)


@pytest.mark.skipif(os.geteuid() != 0, reason="a second host name needs a UTS namespace (root)")
def test_the_same_path_of_two_hosts_is_two_sources(tmp_path: Path) -> None:
    """`backup files /etc` on db1 and on db2 into one repository: `latest` was the newer host's /etc."""
    repo, src, target = str(tmp_path / "repo"), tmp_path / "etc", tmp_path / "t"
    src.mkdir()
    (src / "hostname").write_text("here\n")
    _ok("init", "--repo", repo)
    _ok("backup", "files", str(src), "--repo", repo)
    subprocess.run(["cp", "-a", str(src), str(tmp_path / "oracle")], check=True)  # this host's /etc as backed up
    here = socket.gethostname()
    (src / "hostname").write_text("elsewhere\n")  # the other host's /etc holds other bytes
    argv = ["unshare", "--uts", "sh", "-c", 'hostname "$1" && shift && exec "$@"', "sh", "db2-elsewhere", *DRKIT]
    other = subprocess.run([*argv, "backup", "files", str(src), "--repo", repo], env={**os.environ, **ENV}, check=False)
    assert other.returncode == 0
    proc = drkit("restore", "latest", "--target", str(target), "--repo", repo, env=ENV)
    assert proc.returncode == 2 and "db2-elsewhere" in one_line_error(proc), proc.stderr.decode()
    assert "--host" in proc.stderr.decode() and not target.exists()
    _ok("restore", "latest", "--host", here, "--target", str(target), "--repo", repo)
    assert rsync_diff(tmp_path / "oracle", target / "etc") == []


def test_backup_parent_latest_is_this_hosts_of_these_paths(
    two_trees: tuple[str, Path, Path, str], tmp_path: Path
) -> None:
    """`backup files --parent latest` among two sources: the default parent (etc's, not home's newer
    snapshot), not a refusal that would stop a nightly script; the new snapshot restores as etc (rsync)."""
    repo, etc, _, etc_snap = two_trees
    (etc / "hosts").write_text("127.0.0.1 localhost db\n")
    done = json.loads(_ok("backup", "files", str(etc), "--parent", "latest", "--repo", repo, "--json"))
    assert done["parent"] == etc_snap
    assert done["files_unchanged"] == 1 and done["files_changed"] == 1  # sshd_config not read again
    _ok("restore", done["snapshot"], "--target", str(tmp_path / "out"), "--repo", repo)
    assert rsync_diff(etc, tmp_path / "out" / "etc") == []


def test_summary_and_ambiguity_lines_escape_a_hostile_path(tmp_path: Path) -> None:
    """A backed-up directory whose name holds ESC and a newline: the restore summary and the "ambiguous"
    line show it escaped (`ls -b` style), one line each, never the raw bytes (terminal escape injection)."""
    repo = str(tmp_path / "repo")
    evil = tmp_path / "src" / "a\x1b[31mb\nc"
    evil.mkdir(parents=True)
    (evil / "f").write_bytes(os.urandom(2000))
    other = tmp_path / "src" / "other"
    other.mkdir()
    (other / "g").write_text("g\n")
    _ok("init", "--repo", repo)
    _ok("backup", "files", str(evil), "--repo", repo)
    target = tmp_path / "t"
    proc = drkit("restore", "latest", "--target", str(target), "--repo", repo, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    summary = [line for line in proc.stderr.decode().splitlines() if line.startswith("restored ")]
    assert len(summary) == 1 and "\x1b" not in proc.stderr.decode(), proc.stderr
    assert "a\\033[31mb\\nc" in summary[0], summary
    restored = target / evil.name
    assert rsync_diff(evil, restored) == [], "the restored tree differs from the source"
    _ok("backup", "files", str(other), "--repo", repo)
    refused = drkit("restore", "latest", "--target", str(tmp_path / "t2"), "--repo", repo, env=ENV)
    assert refused.returncode == 2
    err = refused.stderr.decode()
    assert "\x1b" not in err and "a\\033[31mb\\nc" in err, err
