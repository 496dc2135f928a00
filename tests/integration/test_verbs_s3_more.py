"""The verbs of issue #26 that had no test against S3 (SeaweedFS): `ls` (text and JSON) and `diff` against the
source tree (os.lstat), the snapshot filters on `snapshots`, `find`, `ls`, `forget` and `restore`, `prune` and
`check --read-data` after a filtered forget, `unlock --json`, and `repair snapshots` of a files snapshot whose
pack is lost in the bucket. Every restore is compared with its source by rsync."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit

ENV = {"DRKIT_PASSWORD": "s3 more verbs"}
pytestmark = [pytest.mark.integration, pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync")]


def _run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return drkit(*args, env=ENV)


def _ok(*args: str) -> bytes:
    proc = _run(*args)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def _same(a: Path, b: Path) -> None:
    rsync = ["rsync", "-aHAXS", "--dry-run", "--checksum", "--itemize-changes", "--delete", f"{a}/", f"{b}/"]
    assert subprocess.run(rsync, capture_output=True, text=True, check=True).stdout == ""


def _ids(url: str, *filters: str) -> list[str]:
    return [s["id"] for s in json.loads(_ok("snapshots", "--repo", url, "--json", *filters))]


@pytest.fixture
def s3_two(seaweedfs_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[str, Path, list[str]]:
    """An S3 repository (1 MiB packs) with two files snapshots of one tree: tagged t1, then (changed) t2."""
    seaweedfs_server.apply_env(monkeypatch)
    url = str(seaweedfs_server.url(seaweedfs_server.make_bucket("drkit-more"), uuid.uuid4().hex[:10]))
    src = tmp_path / "src"
    (src / "keep" / "deep").mkdir(parents=True)
    (src / "lost").mkdir()
    for i in range(4):
        (src / "keep" / f"f{i}.txt").write_text(f"kept {i}\n" * 300)
    (src / "keep" / "deep" / "g.bin").write_bytes(os.urandom(50_000))
    (src / "gone.txt").write_text("removed before the second backup\n")
    _ok("init", "--repo", url, "--pack-size-mib", "1")
    first = json.loads(_ok("backup", "files", str(src), "--repo", url, "--json", "--tag", "t1"))["snapshot"]
    (src / "gone.txt").unlink()
    (src / "keep" / "f0.txt").write_text("changed\n")
    (src / "lost" / "big.bin").write_bytes(os.urandom(4 << 20))  # packs of its own
    second = json.loads(_ok("backup", "files", str(src), "--repo", url, "--json", "--tag", "t2"))["snapshot"]
    return url, src, [first, second]


def test_ls_and_diff_on_s3(s3_two: tuple[str, Path, list[str]]) -> None:
    url, src, (first, second) = s3_two
    want = {"/src/" + str(p.relative_to(src)): p for p in src.rglob("*")}
    docs = {d["path"]: d for d in json.loads(_ok("ls", second[:8], "--repo", url, "--json")) if d["path"] != "/src"}
    assert set(docs) == set(want)
    for path, doc in docs.items():
        st = os.lstat(want[path])
        assert (doc["type"] == "dir") == want[path].is_dir() and doc["mode"] == st.st_mode & 0o7777
        assert doc["mtime_ns"] == st.st_mtime_ns and (doc["size"] == st.st_size or doc["type"] == "dir")
    text = {line.rstrip("/") for line in _ok("ls", "latest", "--repo", url, "--tag", "t2").decode().splitlines()}
    assert text - {"/src"} == set(want)
    changes = {(c["change"], c["path"]) for c in json.loads(_ok("diff", first, second, "--repo", url, "--json"))}
    assert {("-", "/src/gone.txt"), ("M", "/src/keep/f0.txt"), ("+", "/src/lost/big.bin")} <= changes
    assert all(path.startswith(("/src/lost", "/src/gone", "/src/keep/f0")) or kind == "M" for kind, path in changes)


def test_filters_forget_prune_check_on_s3(s3_two: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    url, src, (first, second) = s3_two
    assert _ids(url, "--tag", "t1") == [first]
    assert _ids(url, "--source", "files", "--host", socket.gethostname(), "--path", str(src)) == [first, second]
    found = json.loads(_ok("find", "*.txt", "--repo", url, "--json", "--tag", "t2"))
    assert {f["snapshot"] for f in found} == {second} and "/src/gone.txt" not in {f["path"] for f in found}
    _ok("forget", "--keep-last", "1", "--tag", "t1", "--repo", url)  # the last of what the filter selects: kept
    assert _ids(url) == [first, second]
    _ok("forget", "--keep-last", "1", "--path", str(src), "--repo", url)
    assert _ids(url) == [second]
    prune = json.loads(_ok("prune", "--grace", "0", "--repo", url, "--json"))
    assert prune["live_blobs"] > 0 and not prune["dry_run"]  # what it kept is proven below: read back, restored
    check = json.loads(_ok("check", "--read-data", "--repo", url, "--json"))
    assert check["ok"] and check["packs_checked"] > 0
    _ok("restore", "latest", "--path", str(src), "--target", str(tmp_path / "out"), "--repo", url)
    _same(src, tmp_path / "out" / "src")
    assert json.loads(_ok("unlock", "--repo", url, "--json")) == {"removed": [], "kept": []}


def _lose_big_file_pack(url: str) -> None:
    """Delete from the bucket one pack holding only blobs of /src/lost/big.bin."""
    from drkit.ops.session import open_repository
    from drkit.repository import snapshots
    from drkit.repository.format import pack_key
    from drkit.sources.files.diff import load_tree

    repo = open_repository(url, ENV["DRKIT_PASSWORD"])
    try:
        snap = snapshots.find(repo.manifests, "latest")
        nodes = {n.name: n for n in load_tree(repo, snap.root["tree"])}
        lost = {n.name: n for n in load_tree(repo, nodes["src"].subtree)}["lost"]
        big = {bytes.fromhex(h) for h in load_tree(repo, lost.subtree)[0].content}
        index = repo.index
        for pack_id in sorted(index.pack_sizes):
            first, n = index.run(pack_id)
            if all(index.entry_fields(e)[1] in big for e in range(first, first + n)):
                repo.backend.delete(pack_key(pack_id))
                return
        raise AssertionError("no pack of big.bin's blobs alone")
    finally:
        repo.close()


def test_repair_snapshots_of_files_on_s3(s3_two: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    url, src, (_first, second) = s3_two
    _lose_big_file_pack(url)
    assert _run("restore", second, "--target", str(tmp_path / "broken"), "--repo", url).returncode == 13
    _ok("repair", "index", "--repo", url)
    report = json.loads(_ok("repair", "snapshots", second[:8], "--forget", "--repo", url, "--json"))
    [entry] = report["snapshots"]
    assert entry["status"] == "repaired" and [d.split(":")[0] for d in entry["dropped"]] == ["/src/lost/big.bin"]
    restored = _run("restore", entry["new_id"], "--target", str(tmp_path / "r"), "--repo", url)
    assert restored.returncode == 3, restored.stderr.decode()  # partial: what the repair dropped is named
    want = tmp_path / "want" / "src"
    shutil.copytree(src, want, symlinks=True)
    (want / "lost" / "big.bin").unlink()
    shutil.copystat(src / "lost", want / "lost")
    _same(want, tmp_path / "r" / "src")
