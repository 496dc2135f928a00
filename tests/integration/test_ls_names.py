"""`drkit ls` and `drkit find` of a files snapshot whose names are not UTF-8 (issue #26): with a strict UTF-8
standard output (a user's UTF-8 terminal) the old `ls` died with an internal UnicodeEncodeError. Names are
shown as GNU `ls -b` shows them (the oracle: `ls -b` run on the source directory); `--json` keeps the name
lossless (os.fsencode gives the bytes back), and `dump` of the name from the JSON returns the file's bytes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from clirun import drkit

ENV = {"DRKIT_PASSWORD": "names", "PYTHONIOENCODING": "utf-8"}  # strict, as on a UTF-8 locale's terminal
NAMES = [
    b"caf\xe9",
    b"d\xff",
    b"tab\there",
    b"back\\slash",
    b"nl\nx",
    b"ok-\xc3\xa9",
    b"ctl\x01",
    b"two words -> x",
]  # a space escaped as `ls -b` does: a name cannot pass for a symlink's arrow
pytestmark = pytest.mark.skipif(shutil.which("ls") is None, reason="needs GNU ls")


def _ok(*args: str) -> bytes:
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


@pytest.fixture
def repo(tmp_path: Path) -> tuple[str, Path]:
    src = tmp_path / "src"
    src.mkdir()
    for i, name in enumerate(NAMES):
        with open(os.path.join(os.fsencode(src), name), "wb") as f:
            f.write(b"content %d\n" % i)
    url = str(tmp_path / "repo")
    _ok("init", "--repo", url)
    _ok("backup", "files", str(src), "--repo", url)
    return url, src


def _ls_b(src: Path) -> list[str]:
    run = subprocess.run(["ls", "-b", "-1", str(src)], capture_output=True, check=True, env={"LC_ALL": "C.UTF-8"})
    return sorted(run.stdout.decode().splitlines())


def test_ls_and_find_escape_names_as_ls_b(repo: tuple[str, Path]) -> None:
    url, src = repo
    expected = _ls_b(src)
    assert len(expected) == len(NAMES)
    shown = _ok("ls", "latest", "--repo", url).decode().splitlines()
    assert sorted(line.removeprefix("/src/") for line in shown if line != "/src/") == expected
    long = _ok("ls", "-l", "latest", "--repo", url).decode().splitlines()
    assert sorted(line.split(" /src/")[1] for line in long if line.startswith("file")) == expected
    found = _ok("find", "*", "--repo", url).decode().splitlines()
    assert sorted(line.split("  /src/")[1] for line in found if "  /src/" in line) == expected


def test_ls_json_keeps_names_lossless(repo: tuple[str, Path]) -> None:
    url, src = repo
    docs = json.loads(_ok("ls", "latest", "--repo", url, "--json"))
    names = sorted(os.fsencode(d["path"]).removeprefix(b"/src/") for d in docs if d["type"] == "file")
    assert names == sorted(NAMES)
    for d in docs:
        if d["type"] == "file":
            local = os.path.join(os.fsencode(src), os.fsencode(d["path"]).removeprefix(b"/src/"))
            with open(local, "rb") as f:
                assert _ok("dump", "latest", d["path"], "--repo", url) == f.read()


def test_restore_lines_escape_names_as_ls_b(repo: tuple[str, Path], tmp_path: Path) -> None:
    """A restore's own lines (its target, a warning naming a file) show a byte that is not UTF-8 as `ls -b`
    does (``\\351``), never as Python's ``\\udce9``, which a name holding a backslash could also be."""
    url, src = repo
    target = os.path.join(os.fsencode(tmp_path), b"t\xe9 x")
    os.makedirs(os.path.join(target, b"src", b"caf\xe9"))  # a directory where the snapshot has a file
    proc = drkit(
        "restore", "files", "latest", "--target", os.fsdecode(target), "--overwrite", "never", "--repo", url, env=ENV
    )
    assert proc.returncode == 3, proc.stderr.decode()  # a path not restored is a warning
    err = proc.stderr.decode("utf-8").splitlines()  # strict: every byte escaped
    shown = next(name for name in _ls_b(tmp_path) if name.startswith("t"))
    assert shown == "t\\351\\ x"
    assert any(line.endswith(f" bytes to {os.fsdecode(os.fsencode(tmp_path))}/{shown}") for line in err), err
    assert any(line.startswith("warning: src/caf\\351: not restored") for line in err), err
    assert "\\udc" not in proc.stderr.decode("utf-8")
