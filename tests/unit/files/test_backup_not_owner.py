"""A user who does not own a readable file backs it up: Linux refuses O_NOATIME on another user's
file (EPERM), and the backup must then open it without that flag instead of skipping the file."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]

_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
from drkit.sources.files.ops import BackupRequest, backup_files
from drkit.repository.format import RepoConfig
from drkit.repository.repo import Repository
from drkit.repository.reader import read_blob
from drkit.sources.files.diff import walk
from storage_backends.testing.memory import MemoryBackend
repo = Repository.init(MemoryBackend(), "pw", RepoConfig())
result = backup_files(repo, BackupRequest(paths=[sys.argv[2]]))
print("warnings", len(result.warnings), *result.warnings)
for rel, node in walk(repo, result.snapshot.root["tree"]):
    if node.type == "file":
        data = b"".join(read_blob(repo, bytes.fromhex(i)) for i in node.content)
        print("file", rel, data.decode())
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the backup as another user")
def test_backup_of_a_file_owned_by_another_user() -> None:
    nobody = pwd.getpwnam("nobody")
    src = Path(tempfile.mkdtemp(prefix="drkit-not-owner-"))
    try:
        src.chmod(0o755)
        (src / "theirs.txt").write_text("owned by root, readable by all\n")
        (src / "theirs.txt").chmod(0o644)
        out = subprocess.run(
            [sys.executable, "-c", _SCRIPT, str(REPO_ROOT), str(src)],
            user=nobody.pw_uid,
            group=nobody.pw_gid,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "HOME": "/nonexistent", "XDG_CACHE_HOME": "/nonexistent"},
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert "warnings 0" in out.stdout, out.stdout
        assert f"file {src.name}/theirs.txt owned by root, readable by all" in out.stdout
    finally:
        for p in src.iterdir():
            p.unlink()
        src.rmdir()
