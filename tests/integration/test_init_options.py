"""`drkit init --chunk-size-kib`: the repository's chunker uses that average (min/4, max x4)."""

from __future__ import annotations

from pathlib import Path

from clirun import drkit

from drkit.repository.repo import Repository
from storage_backends.local import LocalBackend


def test_chunk_size_option_sets_the_repository_chunker(tmp_path: Path) -> None:
    proc = drkit("init", "--repo", str(tmp_path / "r"), "--chunk-size-kib", "64", env={"DRKIT_PASSWORD": "pw"})
    assert proc.returncode == 0, proc.stderr.decode()
    repo = Repository.open(LocalBackend(tmp_path / "r"), "pw", load_index=False)
    params = repo.config.chunker
    repo.close()
    assert (params.min_size, params.avg_size, params.max_size) == (16 << 10, 64 << 10, 256 << 10)
    assert params.seed != 0
    bad = drkit("init", "--repo", str(tmp_path / "s"), "--chunk-size-kib", "8", env={"DRKIT_PASSWORD": "pw"})
    assert bad.returncode == 2 and not (tmp_path / "s").exists()
