"""`drkit backup files` choosing what to store, through the CLI: --dry-run writes nothing (the repository is
byte for byte the same after) and predicts what the real run then stores; --exclude-caches,
--exclude-if-present, --exclude-larger-than and --exclude-file leave out what an rsync copy made with the
same rules (computed here independently: rsync filter rules and --max-size) leaves out; --files-from and
its verbatim and raw (NUL) forms back up the paths they list."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from clirun import drkit, one_line_error
from treediff import rsync_diff

ENV = {"DRKIT_PASSWORD": "correct horse"}
SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"
pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync (scripts/install.sh)")


def _ok(*args: str, stdin: bytes | None = None) -> bytes:
    proc = drkit(*args, env=ENV, stdin=stdin)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def repo_state(repo: Path) -> dict[str, tuple[int, int, str]]:
    """Every path under the repository with its mode, mtime and content hash (directories: no hash)."""
    state = {}
    for p in sorted(repo.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        state[str(p.relative_to(repo))] = (st.st_mode, st.st_mtime_ns, digest)
    return state


def _tree(root: Path) -> Path:
    src = root / "src"
    for d in ("app/sub", "cache/deep", "notcache", "private/x", "logs"):
        (src / d).mkdir(parents=True)
    for i in range(20):
        (src / "app" / f"m{i}.py").write_text(f"x = {i}\n" * 200)
    (src / "app/sub/big.bin").write_bytes(hashlib.shake_256(b"big").digest(300 << 10))
    (src / "app/sub/edge.bin").write_bytes(hashlib.shake_256(b"edge").digest(100 << 10))  # == the limit: kept
    (src / "cache/CACHEDIR.TAG").write_bytes(SIGNATURE + b"\n# a cache\n")
    (src / "cache/deep/blob").write_bytes(b"cached" * 1000)
    (src / "cache/entry").write_text("cached\n")
    (src / "notcache/CACHEDIR.TAG").write_bytes(b"no signature here\n")  # not a cache: kept whole
    (src / "notcache/data").write_text("keep\n")
    (src / "private/.nobackup").write_text("")
    (src / "private/x/secret").write_text("left out\n")
    (src / "logs/a.log").write_text("log\n")
    (src / "logs/keep.txt").write_text("keep\n")
    return src


def test_dry_run_writes_nothing_and_predicts_the_backup(tmp_path: Path) -> None:
    repo, src = tmp_path / "repo", _tree(tmp_path)
    _ok("init", "--repo", str(repo))
    for round_ in range(2):  # into an empty repository, then with a parent and most data already stored
        before = repo_state(repo)
        dry = json.loads(_ok("backup", "files", str(src), "--repo", str(repo), "--dry-run", "--json"))
        assert repo_state(repo) == before
        assert dry["dry_run"] is True and dry["snapshot"] is None
        real = json.loads(_ok("backup", "files", str(src), "--repo", str(repo), "--json"))
        keys = (
            "files_new",
            "files_changed",
            "files_unchanged",
            "dirs",
            "files_read",
            "bytes_read",
            "new_blobs",
            "new_bytes",
            "chunks",
            "total_bytes",
        )
        assert {k: dry[k] for k in keys} == {k: real[k] for k in keys}, round_
        assert real["dry_run"] is False and dry["parent"] == real["parent"]
        assert 0 < dry["stored_bytes"] <= real["stored_bytes"]  # the estimate leaves out pack headers
        if round_ == 0:
            assert dry["files_new"] == 31 and dry["new_bytes"] > 400 << 10
            (src / "app/m3.py").write_text("changed\n")
            (src / "app/new.txt").write_text("new\n")
    assert real["files_changed"] == 1 and real["files_new"] == 1
    listed = _ok("snapshots", "--repo", str(repo), "--json")
    assert len(json.loads(listed)) == 2  # the dry runs wrote no snapshot


def test_dry_run_text_and_refusals(tmp_path: Path) -> None:
    repo, src = tmp_path / "repo", _tree(tmp_path)
    _ok("init", "--repo", str(repo))
    out = _ok("backup", "files", str(src), "--repo", str(repo), "--dry-run").decode()
    assert out.startswith("dry run, nothing stored: files 31 new"), out
    missing = drkit("backup", "files", str(src), "--repo", str(tmp_path / "none"), "--dry-run", env=ENV)
    assert missing.returncode == 10 and not (tmp_path / "none" / "config").exists()
    nothing = drkit("backup", "files", "--repo", str(repo), env=ENV)
    assert nothing.returncode == 2 and "give at least one PATH" in one_line_error(nothing)
    bad = drkit("backup", "files", str(src), "--repo", str(repo), "--exclude-larger-than", "5q", env=ENV)
    assert bad.returncode == 2 and "is not a size" in one_line_error(bad)
    bad = drkit("backup", "files", str(src), "--repo", str(repo), "--exclude-if-present", ":x", env=ENV)
    assert bad.returncode == 2 and "--exclude-if-present" in one_line_error(bad)


def test_exclusions_match_an_rsync_copy(tmp_path: Path) -> None:
    repo, src = tmp_path / "repo", _tree(tmp_path)
    (tmp_path / "drkit-excludes").write_text(f"# comments and blank lines are skipped\n\n*.log\n{src}/app/m1*\n")
    # the oracle's rules, written from the tree above (not from drkit's code): a marked directory keeps
    # only its marker; --max-size leaves out files over the limit, as --exclude-larger-than does
    (tmp_path / "rsync-filter").write_text(
        "+ /cache/CACHEDIR.TAG\n- /cache/*\n+ /private/.nobackup\n- /private/*\n- *.log\n- /app/m1*\n"
    )
    copy = tmp_path / "copy"
    subprocess.run(
        ["rsync", "-aHAXS", "--max-size=100K", f"--filter=merge {tmp_path / 'rsync-filter'}", f"{src}/", f"{copy}/"],
        check=True,
    )
    assert (copy / "app/sub/edge.bin").exists() and not (copy / "app/sub/big.bin").exists()
    _ok("init", "--repo", str(repo))
    summary = json.loads(
        _ok(
            "backup",
            "files",
            str(src),
            "--repo",
            str(repo),
            "--exclude-caches",
            "--exclude-if-present",
            ".nobackup",
            "--exclude-larger-than",
            "100k",
            "--exclude-file",
            str(tmp_path / "drkit-excludes"),
            "--json",
        )
    )
    assert summary["marked_dirs"] == [str(src / "cache"), str(src / "private")]  # said, never silent
    _ok("restore", "files", "latest", "--target", str(tmp_path / "out"), "--repo", str(repo))
    assert rsync_diff(copy, tmp_path / "out" / "src") == []
    assert rsync_diff(tmp_path / "out" / "src", copy) == []  # nothing more either (rsync lists extras this way)


def test_exclude_if_present_with_a_header(tmp_path: Path) -> None:
    repo, src = tmp_path / "repo", _tree(tmp_path)
    _ok("init", "--repo", str(repo))
    (src / "logs/.skip").write_text("MARK: yes\n")
    (src / "app/.skip").write_text("other\n")  # wrong header: app is kept whole
    proc = drkit("backup", "files", str(src), "--repo", str(repo), "--exclude-if-present", ".skip:MARK:", env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert "note: contents of 1 directories left out by their marker files" in proc.stderr.decode()
    assert str(src / "logs") in proc.stderr.decode()
    listing = _ok("ls", "latest", "--repo", str(repo)).decode().splitlines()
    assert "/src/logs/.skip" in listing and "/src/logs/a.log" not in listing and "/src/logs/" in listing
    assert "/src/app/.skip" in listing and "/src/app/sub/big.bin" in listing
    assert "/src/cache/deep/blob" in listing  # no --exclude-caches: a cache is backed up


def test_files_from_globbed_verbatim_and_raw(tmp_path: Path) -> None:
    repo, src = tmp_path / "repo", _tree(tmp_path)
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / " spaced ").write_text("spaces kept\n")
    (odd / "#hash").write_text("not a comment\n")
    (odd / "new\nline").write_text("newline in the name\n")
    (odd / "star*").write_text("not a glob\n")
    (tmp_path / "list").write_text(f"# the app and the logs\n\n  {src}/app  \n{src}/l?gs\n")
    (tmp_path / "verbatim").write_text(f"{odd}/ spaced \n{odd}/#hash\n{odd}/star*\n")
    raw = f"{odd}/new\nline\0".encode()
    _ok("init", "--repo", str(repo))
    _ok(
        "backup",
        "files",
        str(src / "cache"),
        "--repo",
        str(repo),
        "--files-from",
        str(tmp_path / "list"),
        "--files-from-verbatim",
        str(tmp_path / "verbatim"),
        "--files-from-raw",
        "-",
        stdin=raw,
    )
    out = tmp_path / "out"
    _ok("restore", "files", "latest", "--target", str(out), "--repo", str(repo))
    assert sorted(os.listdir(out)) == sorted(["app", "logs", "cache", " spaced ", "#hash", "new\nline", "star*"])
    for name in ("app", "logs", "cache"):
        assert rsync_diff(src / name, out / name) == [], name
    for name in (" spaced ", "#hash", "new\nline", "star*"):
        assert (out / name).read_bytes() == (odd / name).read_bytes()
    nomatch = tmp_path / "nomatch"
    nomatch.write_text(f"{src}/nothing-*\n")
    proc = drkit("backup", "files", "--repo", str(repo), "--files-from", str(nomatch), env=ENV)
    assert proc.returncode == 2 and "matches nothing" in one_line_error(proc)


def test_verbose_lists_the_files_a_backup_reads(tmp_path: Path) -> None:
    repo, src = tmp_path / "repo", _tree(tmp_path)
    _ok("init", "--repo", str(repo))
    _ok("backup", "files", str(src), "--repo", str(repo), "--exclude-caches")
    (src / "app/m3.py").write_text("changed\n")
    (src / "app/new.txt").write_text("new\n")
    out = _ok("backup", "files", str(src), "--repo", str(repo), "--exclude-caches", "--dry-run", "-v").decode()
    assert out.splitlines()[:-1] == [f"changed {src}/app/m3.py", f"new {src}/app/new.txt"]
    doc = json.loads(_ok("backup", "files", str(src), "--repo", str(repo), "--exclude-caches", "-v", "--json"))
    assert doc["read_files"] == [
        {"path": f"{src}/app/m3.py", "change": "changed"},
        {"path": f"{src}/app/new.txt", "change": "new"},
    ]
    again = json.loads(_ok("backup", "files", str(src), "--repo", str(repo), "--exclude-caches", "-v", "--json"))
    assert again["read_files"] == [] and again["files_read"] == 0


def test_verbose_prints_a_name_that_is_not_utf8_as_its_bytes(tmp_path: Path) -> None:
    """Where stdout is strict UTF-8 (en_US.UTF-8; PYTHONIOENCODING says so here), `-v` printing a name that
    is not UTF-8 failed the backup (exit 1, no snapshot); the line carries the name's bytes, as ls prints it."""
    repo, src = tmp_path / "repo", tmp_path / "src"
    src.mkdir()
    with open(os.path.join(os.fsencode(src), b"caf\xe9.txt"), "wb") as f:
        f.write(b"latin-1 name\n")
    _ok("init", "--repo", str(repo))
    proc = drkit(
        "backup", "files", str(src), "--repo", str(repo), "-v", env={**ENV, "PYTHONIOENCODING": "utf-8:strict"}
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.splitlines()[0] == b"new " + os.fsencode(src) + b"/caf\xe9.txt"
    assert len(json.loads(_ok("snapshots", "--repo", str(repo), "--json"))) == 1
