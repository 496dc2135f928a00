"""`drkit backup files` excludes written as a restic or rsync user writes them (issue: `drkit backup files src
--exclude src/d1` matched nothing and stored d1, silently). A pattern without a leading `/` matches the end of
a path, whole names (restic's and rsync's rule: `src/d1` leaves out every `…/src/d1`); one starting with `./`
or `../` is a path from the working directory, as a PATH is; one starting with `/` an absolute path. A
pattern that matched nothing is a warning (the exit code stays 0). The oracle: the snapshot restored and
compared (rsync, content checksums) with a copy of the source from which the test removed what each rule
names."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from clirun import drkit
from treediff import rsync_diff

ENV = {"DRKIT_PASSWORD": "relative"}
CONTENT = ("-rlp",)  # names, types, symlinks, modes, and (--checksum) every byte; no directory mtimes
pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync (scripts/install.sh)")


def _tree(root: Path) -> Path:
    src = root / "src"
    for d in ("d1/sub", "d2/src/d1", "d3"):
        (src / d).mkdir(parents=True)
    (src / "d1/a").write_bytes(os.urandom(3000))
    (src / "d1/sub/b").write_bytes(os.urandom(100))
    (src / "d2/c").write_text("c\n")
    (src / "d2/src/d1/deep").write_text("deep\n")  # a second `src/d1`, deeper
    (src / "d3/d1").write_text("a file named d1\n")
    (src / "top").write_text("top\n")
    return src


def _backup_and_compare(tmp_path: Path, src: Path, args: list[str], removed: list[str]) -> str:
    """Back up ``src`` (run in its parent directory, ``src`` given relative) with ``args``, restore the
    snapshot and compare it with a copy of ``src`` without ``removed``; the backup's stderr."""
    repo = tmp_path / "repo"
    if not repo.exists():
        assert drkit("init", "--repo", str(repo), env=ENV).returncode == 0
    proc = drkit("backup", "files", "src", *args, "--repo", str(repo), env=ENV, cwd=src.parent)
    assert proc.returncode == 0, proc.stderr.decode()
    expected = tmp_path / "expected"
    shutil.rmtree(expected, ignore_errors=True)
    shutil.copytree(src, expected, symlinks=True)
    for rel in removed:
        gone = expected / rel
        shutil.rmtree(gone) if gone.is_dir() else gone.unlink()
    out = tmp_path / "out"
    shutil.rmtree(out, ignore_errors=True)
    restored = drkit("restore", "files", "latest", "--target", str(out), "--repo", str(repo), env=ENV)
    assert restored.returncode == 0, restored.stderr.decode()
    assert rsync_diff(expected, out / "src", "--delete", flags=CONTENT) == []  # --delete: extra entries too
    return proc.stderr.decode()


@pytest.mark.parametrize(
    ("pattern", "removed"),
    [
        ("src/d1", ["d1", "d2/src/d1"]),  # the end of a path: both `src/d1`, as restic and rsync leave out
        ("src/d1/", ["d1", "d2/src/d1"]),
        ("./src/d1", ["d1"]),  # from the working directory: only that one
        ("../{cwd}/src/d1", ["d1"]),
        ("d1/sub", ["d1/sub"]),
        ("d*/c", ["d2/c"]),
        ("d1", ["d1", "d2/src/d1", "d3/d1"]),  # no `/`: any name, as before
        ("{src}/d1", ["d1"]),  # absolute, as before
    ],
)
def test_relative_excludes_leave_out_what_they_name(pattern: str, removed: list[str], tmp_path: Path) -> None:
    src = _tree(tmp_path)
    given = pattern.format(cwd=tmp_path.name, src=src)
    err = _backup_and_compare(tmp_path, src, ["--exclude", given], removed)
    assert "matched nothing" not in err, err


def test_an_exclude_file_follows_the_same_rules(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    listed = tmp_path / "excludes"
    listed.write_text("# from the working directory, and the end of a path\n./src/d1\nsrc/d3\n")
    err = _backup_and_compare(tmp_path, src, ["--exclude-file", str(listed)], ["d1", "d3"])
    assert "matched nothing" not in err, err


def test_a_pattern_that_matched_nothing_is_a_warning(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    # `/src/d1` is how `drkit ls` shows the path, but an exclude with a leading / is an absolute path
    err = _backup_and_compare(tmp_path, src, ["--exclude", "/src/d1", "--exclude", "*.tmp", "--exclude", "d2"], ["d2"])
    lines = [ln for ln in err.splitlines() if "matched nothing" in ln]
    assert lines == [
        "warning: exclude pattern '/src/d1' matched nothing",
        "warning: exclude pattern '*.tmp' matched nothing",
    ], err

    dry = drkit(
        "backup", "files", "src", "--dry-run", "--json", "--exclude", "nosuch/x", "--repo", str(tmp_path / "repo"),
        env=ENV, cwd=tmp_path,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr.decode()
    assert json.loads(dry.stdout)["excludes_unmatched"] == ["nosuch/x"]


def test_a_pattern_credited_when_another_one_excluded_the_same_entry(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    err = _backup_and_compare(tmp_path, src, ["--exclude", "d2", "--exclude", "src/d2"], ["d2"])
    assert "matched nothing" not in err, err


def test_a_job_uses_the_same_rules_and_logs_a_pattern_that_matched_nothing(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    repo = tmp_path / "repo"
    assert drkit("init", "--repo", str(repo), env=ENV).returncode == 0
    cfg = tmp_path / "drkit.yaml"
    cfg.write_text(
        f"repositories:\n  default:\n    url: {repo}\n    passphrase: {{env: DRKIT_PASSWORD}}\n"
        f'jobs:\n  data:\n    source: {{kind: files, paths: ["{src}"], exclude: ["src/d1", "/src/d3"]}}\n'
    )
    proc = drkit("--config", str(cfg), "job", "run", "data", env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    assert "exclude pattern '/src/d3' matched nothing" in proc.stderr.decode()
    assert "'src/d1' matched nothing" not in proc.stderr.decode()
    out = tmp_path / "out"
    restored = drkit("restore", "files", "latest", "--target", str(out), "--repo", str(repo), env=ENV)
    assert restored.returncode == 0, restored.stderr.decode()
    expected = tmp_path / "expected"
    shutil.copytree(src, expected)
    shutil.rmtree(expected / "d1")
    shutil.rmtree(expected / "d2/src/d1")
    assert rsync_diff(expected, out / "src", "--delete", flags=CONTENT) == []
