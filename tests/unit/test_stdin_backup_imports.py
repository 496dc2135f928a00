"""`drkit backup stdin` imports only what a stream backup needs: its start-up is serial time that limits how a
backup scales from 1 to 2 CPUs (issue 25). No object-store SDK, database driver, pydantic, nor
importlib.metadata (with email and zipfile; the backend table and the extras table read package metadata
only when a scheme is not built in, or an import failed), nor the files source or the restore side.

The files source's tree walker (check, prune, copy, stats) is now imported when a tree root is first walked,
not with every opened repository: a process that imported nothing of the files source still walks one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ENV = {"DRKIT_PASSWORD": "not-a-secret", "DRKIT_KDF_MEMORY_KIB": "64", "PATH": "/usr/bin:/bin"}
UNNEEDED = (
    "boto3",
    "botocore",
    "google",
    "psycopg",
    "redis",
    "pydantic",
    "pydantic_core",
    "asyncio",
    "yaml",
    "apscheduler",
    "rich",
    "opentelemetry",
    "email",
    "importlib.metadata",
    "drkit.sources.files",
    "drkit.cli.cmd_restore",
    "drkit.repository.check",
)

BACKUP = """
import sys
from drkit.cli.main import cli
cli.main(args=["backup", "stdin", "--name", "s", "--repo", R, "--json"], prog_name="drkit", standalone_mode=False)
unneeded = sys.argv[1:]
print("LOADED", sorted(m for m in sys.modules if any(m == u or m.startswith(u + ".") for u in unneeded)))
"""

WALK = """
import sys
from drkit.ops.session import open_repository
from drkit.repository import snapshots
from drkit.repository.references import ROOT_WALKERS, root_blobs
before = "drkit.sources.files" in sys.modules
repo = open_repository(R, "not-a-secret")
(snap,) = snapshots.load_all(repo.manifests)
walked = set(root_blobs(repo, snap.root, "snapshot"))
indexed = {blob_id for blob_id, _ in repo.index.items()}
print("BEFORE", before, "AFTER", ROOT_WALKERS["tree"].__module__, "SAME", walked == indexed, len(walked))
"""


def _drkit(tmp: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**ENV, "XDG_CACHE_HOME": str(tmp / "cache")}
    return subprocess.run(
        [sys.executable, "-m", "drkit", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        env=env,
        check=False,
        cwd=tmp,
    )


def _python(tmp: Path, code: str, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    env = {**ENV, "XDG_CACHE_HOME": str(tmp / "cache")}
    setup = f"R = {str(tmp / 'repo')!r}\n"
    return subprocess.run(
        [sys.executable, "-c", setup + code, *args],
        input=stdin.decode("latin-1") if stdin is not None else None,
        capture_output=True,
        text=True,
        encoding="latin-1",
        timeout=120,
        env=env,
        check=False,
        cwd=tmp,
    )


def test_a_stdin_backup_imports_nothing_it_does_not_use(tmp_path: Path) -> None:
    data = os.urandom(300_000) + b"some text\n" * 50_000
    assert _drkit(tmp_path, "init", "--repo", str(tmp_path / "repo")).returncode == 0
    proc = _python(tmp_path, BACKUP, *UNNEEDED, stdin=data)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stdout, proc.stdout
    restored = _drkit(tmp_path, "restore", "latest", "--repo", str(tmp_path / "repo"), "--to", "-")
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout == data  # the backup those imports served is the stream, byte for byte


def test_the_tree_walker_loads_the_files_source_when_first_used(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_bytes(os.urandom(200_000))
    (src / "g").write_text("text\n" * 1000)
    repo = str(tmp_path / "repo")
    assert _drkit(tmp_path, "init", "--repo", repo).returncode == 0
    backed = _drkit(tmp_path, "backup", "files", str(src), "--repo", repo)
    assert backed.returncode == 0, backed.stderr
    proc = _python(tmp_path, WALK)
    assert proc.returncode == 0, proc.stderr
    # nothing of the files source before the walk; then its own walker, which named every blob the
    # repository holds (one files backup into a new repository: its trees and its files' data)
    assert "BEFORE False AFTER drkit.sources.files SAME True" in proc.stdout, proc.stdout
