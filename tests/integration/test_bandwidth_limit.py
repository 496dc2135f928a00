"""--limit-upload / --limit-download (issue #26) on a local directory and on SeaweedFS (S3): a backup and a
restore of N MiB take at least N / limit - burst seconds, and the restore is byte-identical to the source
(sha256 of every file). Only lower bounds are asserted: a loaded machine may make anything slower."""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit, one_line_error

from storage_backends._ratelimit import BURST_SECONDS

ENV = {"DRKIT_PASSWORD": "bandwidth"}
MIB = 1 << 20
LIMIT_KIB = 512
pytestmark = pytest.mark.integration


def _ok(*args: str, env: dict[str, str] | None = None) -> float:
    """Run drkit; the seconds it took."""
    started = time.monotonic()
    proc = drkit(*args, env={**ENV, **(env or {})})
    assert proc.returncode == 0, proc.stderr.decode()
    return time.monotonic() - started


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


@pytest.fixture(params=["local", "s3"])
def repo_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "local":
        return str(tmp_path / "repo")
    server: Any = request.getfixturevalue("seaweedfs_server")
    server.apply_env(monkeypatch)
    return str(server.url(server.make_bucket("drkit-bwlimit"), uuid.uuid4().hex[:10]))


def test_backup_and_restore_keep_to_the_limits(repo_url: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):  # 2 MiB that does not compress, in 1 MiB packs: several uploads in flight at once
        (src / f"f{i}.bin").write_bytes(hashlib.shake_256(b"bw%d" % i).digest(MIB // 2))
    size_kib = 2 * MIB // 1024
    _ok("init", "--repo", repo_url, "--pack-size-mib", "1")

    took = _ok("--connections", "4", "backup", "files", str(src), "--repo", repo_url, "--limit-upload", str(LIMIT_KIB))
    assert took >= size_kib / LIMIT_KIB - BURST_SECONDS

    target = tmp_path / "out"
    took = _ok(
        "restore", "latest", "--target", str(target), "--repo", repo_url, env={"DRKIT_LIMIT_DOWNLOAD": str(LIMIT_KIB)}
    )
    assert took >= size_kib / LIMIT_KIB - BURST_SECONDS
    restored = target / src.name
    assert _tree(restored) == _tree(src) and len(_tree(src)) == 4


def test_bad_limit_is_one_line_exit_2(tmp_path: Path) -> None:
    for args, env in ((["--limit-upload", "1.5"], {}), ([], {"DRKIT_LIMIT_DOWNLOAD": "fast"})):
        proc = drkit("snapshots", "--repo", str(tmp_path / "r"), *args, env={**ENV, **env})
        assert proc.returncode == 2
        assert "is not a rate in KiB/s" in one_line_error(proc)
    assert not (tmp_path / "r").exists()


def test_configured_limit_applies_to_a_job(tmp_path: Path) -> None:
    """``repositories.NAME.limit_upload`` in drkit.yaml limits a job's backup (jobs open their repository
    through the config); the restored tree is the source's."""
    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        (data / f"g{i}.bin").write_bytes(hashlib.shake_256(b"job%d" % i).digest(MIB))
    repo = tmp_path / "repo"
    cfg = tmp_path / "drkit.yaml"
    cfg.write_text(
        f"repositories:\n  default:\n    url: {repo}\n    passphrase: {{env: DRKIT_PASSWORD}}\n"
        f"    limit_upload: {LIMIT_KIB}\n"
        f'jobs:\n  data:\n    source: {{kind: files, paths: ["{data}"]}}\n    schedule: "0 2 * * *"\n'
    )
    _ok("init", "--repo", str(repo))
    took = _ok("--config", str(cfg), "job", "run", "data")
    assert took >= 2 * MIB / 1024 / LIMIT_KIB - BURST_SECONDS
    _ok("restore", "latest", "--target", str(tmp_path / "out"), "--repo", str(repo))
    assert _tree(tmp_path / "out" / data.name) == _tree(data) and len(_tree(data)) == 2
