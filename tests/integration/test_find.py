"""`drkit find` (issue #26): matches compared with the source tree walked by ``find -name`` and pathlib's glob."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from clirun import drkit, one_line_error

ENV = {"DRKIT_PASSWORD": "correct horse"}


def _ok(*args: str) -> Any:
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout) if "--json" in args else proc.stdout.decode()


def _src(root: Path) -> Path:
    src = root / "src"
    for d in ("app/static", "app/lib/deep/er", "docs", "empty"):
        (src / d).mkdir(parents=True, exist_ok=True)
    for i, d in enumerate(("app", "app/lib", "app/lib/deep/er", "docs")):
        (src / d / f"m{i}.py").write_text("x" * i)
        (src / d / f"n{i}.txt").write_text("y")
    (src / "app/static/logo.py").mkdir()  # a directory matches a name pattern too
    (src / "app/static/s.css").write_text("css")
    return src


def test_find_matches_the_source(tmp_path: Path) -> None:
    repo, src = str(tmp_path / "repo"), _src(tmp_path)
    _ok("init", "--repo", repo)
    first = _ok("backup", "files", str(src), "--repo", repo, "--json")["snapshot"]
    (src / "docs" / "late.py").write_text("new")
    second = _ok("backup", "files", str(src), "--repo", repo, "--json")["snapshot"]

    by_name = _ok("find", "*.py", "--snapshot", "latest", "--repo", repo, "--json")
    expected = subprocess.run(
        ["find", "src", "-name", "*.py"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    assert sorted(m["path"] for m in by_name) == sorted("/" + p for p in expected)
    assert {m["snapshot"] for m in by_name} == {second}
    m0 = next(m for m in by_name if m["path"] == "/src/app/lib/m1.py")
    assert (m0["type"], m0["size"]) == ("file", 1)

    deep = _ok("find", "/src/**/deep/**/*.py", "--repo", repo, "--json")
    globbed = sorted("/src/" + str(p.relative_to(src)) for p in src.glob("**/deep/**/*.py"))
    assert [m["path"] for m in deep if m["snapshot"] == first] == globbed
    assert [m["path"] for m in deep if m["snapshot"] == second] == globbed

    both = _ok("find", "late.py", "--repo", repo, "--json")
    assert [(m["snapshot"], m["path"]) for m in both] == [(second, "/src/docs/late.py")]
    text = _ok("find", "late.py", "--repo", repo)
    assert f"snapshot {second[:8]}" in text and text.rstrip().endswith("1 entries found")
    assert _ok("find", "late.py", "--tag", "nope", "--repo", repo, "--json") == []


def test_find_bad_input(tmp_path: Path) -> None:
    repo = str(tmp_path / "repo")
    _ok("init", "--repo", repo)
    for args, message in ((["/"], "empty find pattern"), (["x", "--snapshot", "beef0000"], "no snapshot with id")):
        proc = drkit("find", *args, "--repo", repo, env=ENV)
        assert proc.returncode == 2 and message in one_line_error(proc)
