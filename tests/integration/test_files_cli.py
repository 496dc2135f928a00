"""`drkit backup files`, `restore`, `ls`, `diff` end to end through the CLI on a local repository."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path

import pytest
from clirun import drkit, one_line_error

ENV = {"DRKIT_PASSWORD": "correct horse"}


def _ok(*args: str) -> bytes:
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def _tree(root: Path) -> Path:
    src = root / "src"
    (src / "app" / "static").mkdir(parents=True)
    (src / "empty").mkdir()
    for i in range(50):
        (src / "app" / f"mod{i}.py").write_text(f"def f{i}():\n    return {i}\n" * 50)
    (src / "app" / "static" / "logo.bin").write_bytes(hashlib.shake_256(b"logo").digest(3 << 20))
    (src / "café.txt").write_text("crème\n")
    (src / "link").symlink_to("app/mod1.py")
    os.link(src / "app" / "mod2.py", src / "hardlink")
    return src


def test_backup_rerun_restore_ls_diff_check(tmp_path: Path) -> None:
    repo = str(tmp_path / "repo")
    src = _tree(tmp_path)
    _ok("init", "--repo", repo)
    first = json.loads(_ok("backup", "files", str(src), "--repo", repo, "--json", "--tag", "t1"))
    assert first["files_new"] == 52 and first["warnings"] == [] and first["bytes_read"] > 3 << 20
    again = json.loads(_ok("backup", "files", str(src), "--repo", repo, "--json"))
    assert (again["files_read"], again["bytes_read"], again["new_bytes"]) == (0, 0, 0)
    assert again["parent"] == first["snapshot"] and again["files_unchanged"] == 53
    (src / "app" / "mod3.py").write_text("changed\n")
    (src / "new.txt").write_text("new\n")
    (src / "café.txt").unlink()
    third = json.loads(_ok("backup", "files", str(src), "--repo", repo, "--json"))
    assert (third["files_changed"], third["files_new"], third["files_read"]) == (1, 1, 2)

    diff = _ok("diff", first["snapshot"][:8], third["snapshot"][:8], "--repo", repo).decode().splitlines()
    assert sorted(diff) == sorted(["M  /src/app/mod3.py", "+  /src/new.txt", "-  /src/café.txt"])
    listing = _ok("ls", "latest", "src/app/static", "--repo", repo).decode().splitlines()
    assert listing == ["/src/app/static/logo.bin"]

    _ok("restore", first["snapshot"][:10], "--target", str(tmp_path / "out1"), "--repo", repo)
    assert (tmp_path / "out1" / "src" / "café.txt").read_text() == "crème\n"
    assert os.readlink(tmp_path / "out1" / "src" / "link") == "app/mod1.py"
    assert (tmp_path / "out1/src/app/static/logo.bin").read_bytes() == (src / "app/static/logo.bin").read_bytes()
    _ok(
        "restore", "files", "latest", "--target", str(tmp_path / "out2"), "--repo", repo, "--include", "src/app/mod3.py"
    )
    assert [p.name for p in (tmp_path / "out2").rglob("*") if p.is_file()] == ["mod3.py"]
    _ok("check", "--repo", repo, "--read-data")
    snaps = json.loads(_ok("snapshots", "--source", "files", "--repo", repo, "--json"))
    assert [s["id"] for s in snaps] == [first["snapshot"], again["snapshot"], third["snapshot"]]


def test_point_in_time_cli(tmp_path: Path) -> None:
    repo = str(tmp_path / "repo")
    src = tmp_path / "src"
    src.mkdir()
    (src / "v").write_text("one")
    _ok("init", "--repo", repo)
    first = json.loads(_ok("backup", "files", str(src), "--repo", repo, "--json"))
    (src / "v").write_text("two")
    _ok("backup", "files", str(src), "--repo", repo, "--json")
    snaps = json.loads(_ok("snapshots", "--repo", repo, "--json"))
    assert snaps[0]["id"] == first["snapshot"]
    _ok("restore", "files", "--point-in-time", snaps[0]["end_time"], "--target", str(tmp_path / "o"), "--repo", repo)
    assert (tmp_path / "o" / "src" / "v").read_text() == "one"
    proc = drkit(
        "restore",
        "files",
        "--point-in-time",
        "2001-01-01T00:00:00Z",
        "--target",
        str(tmp_path / "x"),
        "--repo",
        repo,
        env=ENV,
    )
    assert proc.returncode == 2 and "no files snapshot" in one_line_error(proc)
    assert not (tmp_path / "x").exists()


def test_malicious_snapshot_exits_13_and_writes_nothing_outside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drkit.ops.secrets import PassphraseSource
    from drkit.ops.session import open_repository
    from drkit.repository import snapshots
    from drkit.repository.pack import BLOB_DATA, BLOB_TREE
    from drkit.repository.snapshots import Snapshot
    from drkit.repository.writer import BlobWriter

    repo_url = str(tmp_path / "repo")
    _ok("init", "--repo", repo_url)
    monkeypatch.setenv("DRKIT_PASSWORD", ENV["DRKIT_PASSWORD"])
    repo = open_repository(repo_url, PassphraseSource())
    with BlobWriter(repo=repo) as w:
        data = w.add_blob(BLOB_DATA, b"pwned\n").hex()
        node = {"name": "../../../escaped", "type": "file", "size": 6, "mode": 420, "content": [data]}
        tree = w.add_blob(BLOB_TREE, json.dumps({"nodes": [node]}).encode()).hex()
        w.flush()
    snap = snapshots.save(
        repo.manifests,
        Snapshot(source_kind="files", source_name="evil", root={"type": "tree", "tree": tree, "paths": []}),
    )
    target = tmp_path / "a" / "b" / "target"
    proc = drkit("restore", snap.id[:12], "--target", str(target), "--repo", repo_url, env=ENV)
    assert proc.returncode == 13, proc.stderr.decode()
    assert "unsafe entry name" in one_line_error(proc)
    assert not any(p.name == "escaped" for p in tmp_path.rglob("*"))


def test_skipped_file_is_exit_3_with_json_warnings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from drkit.cli.main import main
    from drkit.sources.files import filereads as backup_mod

    src = tmp_path / "src"
    src.mkdir()
    (src / "bad").write_text("unreadable")
    (src / "good").write_text("fine")
    real = backup_mod.read_all

    def failing(fd: int, size: int) -> bytes:
        if size == len("unreadable"):
            raise OSError(errno.EIO, "Input/output error")
        return real(fd, size)

    monkeypatch.setattr(backup_mod, "read_all", failing)
    monkeypatch.setenv("DRKIT_PASSWORD", ENV["DRKIT_PASSWORD"])
    repo = str(tmp_path / "repo")
    _ok("init", "--repo", repo)
    with pytest.raises(SystemExit) as info:
        main(["backup", "files", str(src), "--repo", repo, "--json"])
    out = capsys.readouterr()
    assert info.value.code == 3, out.err
    summary = json.loads(out.out)
    assert summary["warnings"] == [f"{src / 'bad'}: Input/output error"]
    assert summary["files_new"] == 1 and summary["snapshot"]
    assert json.loads(out.err.strip().splitlines()[-1])["error"]["code"] == 3


@pytest.mark.slow
def test_multi_gib_sparse_file_round_trip(tmp_path: Path) -> None:
    repo = str(tmp_path / "repo")
    src = tmp_path / "src"
    src.mkdir()
    size = 3 << 30
    digest = hashlib.blake2b()
    with open(src / "disk.img", "wb") as f:
        f.truncate(size)
        for i in range(8):
            f.seek(i * (size // 8) + 12345)
            f.write(hashlib.shake_256(b"%d" % i).digest(1 << 20))
    with open(src / "disk.img", "rb") as f:
        while block := f.read(16 << 20):
            digest.update(block)
    _ok("init", "--repo", repo)
    first = json.loads(_ok("backup", "files", str(src), "--repo", repo, "--json"))
    # new bytes: per written region, itself plus up to two max-size chunks around it
    assert first["bytes_read"] == size and first["new_bytes"] < 8 * (9 << 20) + (4 << 20)
    _ok("restore", "latest", "--target", str(tmp_path / "out"), "--repo", repo)
    restored = hashlib.blake2b()
    with open(tmp_path / "out" / "src" / "disk.img", "rb") as f:
        while block := f.read(16 << 20):
            restored.update(block)
    assert restored.hexdigest() == digest.hexdigest()
    assert os.stat(tmp_path / "out" / "src" / "disk.img").st_blocks * 512 < 256 << 20


def test_restore_needs_exactly_one_of_to_and_target(tmp_path: Path) -> None:
    proc = drkit("restore", "latest", "--to", "-", "--target", str(tmp_path / "t"), "--repo", str(tmp_path), env=ENV)
    assert proc.returncode == 2 and b"--target DIR" in proc.stderr
    assert not (tmp_path / "t").exists()
