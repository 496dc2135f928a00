"""A name drkit prints is accepted back (the walkthrough: `drkit ls` showed `\\377`, but `restore --include
'/src/\\377'` said "no such path"). `ls`, `find` and `diff` show names as `ls -b` does; `restore --include`,
`restore --exclude`, `ls PATH`, `dump PATH` and `find PATTERN` read that spelling back. Each file is restored
alone by the path `drkit ls` printed and compared byte for byte with the source (the names' bytes too:
the restored directory is listed with os.listdir on bytes), and `dump` of the printed path gives its bytes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from clirun import drkit
from treediff import rsync_diff

ENV = {"DRKIT_PASSWORD": "names", "PYTHONIOENCODING": "utf-8"}  # strict, as on a UTF-8 locale's terminal
FILES = [
    b"\xffname",
    b"caf\xe9 au lait",  # a space: printed `\ `
    b"d\xfe/in\xfd",  # in a directory whose name is not UTF-8
    b"back\\slash",  # a backslash: printed `\\`
    b"\\377x",  # literally backslash, 3, 7, 7: printed `\\377x`, not the byte 0xff
    b"\xffx",  # ... which is printed `\377x`
    b"tab\tnl\nend",
    b"ok-\xc3\xa9",
]


def _ok(*args: str) -> bytes:
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


@pytest.fixture
def backed_up(tmp_path: Path) -> tuple[str, Path]:
    src = tmp_path / "src"
    for i, rel in enumerate(FILES):
        path = os.path.join(os.fsencode(src), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(os.urandom(100 + i) + rel)
    repo = str(tmp_path / "repo")
    _ok("init", "--repo", repo)
    _ok("backup", "files", str(src), "--repo", repo)
    return repo, src


def _printed_files(repo: str) -> dict[bytes, str]:
    """Each file of the snapshot, by its bytes under src/, as `drkit ls` prints it."""
    out = {}
    for line in _ok("ls", "latest", "--repo", repo).decode().splitlines():
        if not line.endswith("/"):
            raw = _unprinted(line)  # the test's own reading of `ls -b` escapes, for the mapping only
            out[raw.removeprefix(b"/src/")] = line
    assert sorted(out) == sorted(FILES), out
    return out


def _unprinted(text: str) -> bytes:
    simple = {"\\": b"\\", " ": b" ", "n": b"\n", "t": b"\t"}
    out, i = bytearray(), 0
    while i < len(text):
        if text[i] != "\\":
            out += text[i].encode()
            i += 1
        elif text[i + 1] in simple:
            out += simple[text[i + 1]]
            i += 2
        else:
            out.append(int(text[i + 1 : i + 4], 8))
            i += 4
    return bytes(out)


def _all_files(root: Path) -> list[bytes]:
    found = []
    for top, _dirs, files in os.walk(os.fsencode(root)):
        found.extend(os.path.relpath(os.path.join(top, f), os.fsencode(root)) for f in files)
    return sorted(found)


def test_each_file_restores_alone_by_its_printed_path(backed_up: tuple[str, Path], tmp_path: Path) -> None:
    repo, src = backed_up
    for raw, printed in _printed_files(repo).items():
        target = tmp_path / "one"
        shutil.rmtree(target, ignore_errors=True)
        _ok("restore", "files", "latest", "--target", str(target), "--include", printed, "--repo", repo)
        assert _all_files(target) == [b"src/" + raw], printed  # that file, under its own bytes, and no other
        restored = os.path.join(os.fsencode(target), b"src", raw)
        with open(restored, "rb") as got, open(os.path.join(os.fsencode(src), raw), "rb") as want:
            assert got.read() == want.read(), printed
        with open(os.path.join(os.fsencode(src), raw), "rb") as want:
            assert _ok("dump", "latest", printed, "--repo", repo) == want.read(), printed


def test_printed_paths_exclude_list_and_find(backed_up: tuple[str, Path], tmp_path: Path) -> None:
    repo, src = backed_up
    printed = _printed_files(repo)
    target = tmp_path / "all-but"
    _ok("restore", "files", "latest", "--target", str(target), "--exclude", printed[b"\xffx"], "--repo", repo)
    expected = tmp_path / "expected"
    shutil.copytree(src, expected)
    os.unlink(os.path.join(os.fsencode(expected), b"\xffx"))
    assert rsync_diff(expected, target / "src", "--delete", flags=("-rlp",)) == []  # only 0xff x left out

    directory = printed[b"d\xfe/in\xfd"].rsplit("/", 1)[0]
    assert _ok("ls", "latest", directory, "--repo", repo).decode().splitlines() == [printed[b"d\xfe/in\xfd"]]
    name = printed[b"\xffname"].rsplit("/", 1)[1]
    assert _ok("find", name, "--repo", repo).decode().count(printed[b"\xffname"]) == 1
