"""A files backup and restore load neither psycopg (the PostgreSQL source's, with asyncio and ssl)
nor pydantic (used only to name the problem in a malformed tree or snapshot document): together
they took ~22 MiB of the files bench's peak RSS and ~0.1 s of every run's start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from drkit.cli.main import cli
for args in (["init", "--repo", R], ["backup", "files", S, "--repo", R, "--json"], ["backup", "files", S, "--repo", R],
             ["restore", "latest", "--target", T, "--repo", R]):
    cli.main(args=args, prog_name="drkit", standalone_mode=False)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("psycopg", "pydantic", "pydantic_core", "asyncio"))
print("LOADED", loaded)
"""


def test_files_backup_and_restore_load_no_psycopg_nor_pydantic(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_text("content\n")
    setup = f"R, S, T = {str(tmp_path / 'repo')!r}, {str(src)!r}, {str(tmp_path / 'out')!r}\n"
    proc = subprocess.run(
        [sys.executable, "-c", setup + SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        env={"DRKIT_PASSWORD": "not-a-secret", "PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stdout, proc.stdout
    assert (tmp_path / "out" / "src" / "d" / "f").read_text() == "content\n"


def test_a_files_backup_does_not_load_the_repository_check(tmp_path: Path) -> None:
    """``drkit check``'s module (and what it pulls in: run and stream manifests, the rooted checks) is not
    a backup's business: the files package registers its tree walker in ``repository.references``, which
    ``check`` reads, without importing ``check`` (it cost every files backup ~0.02-0.05 s of start-up)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("content\n")
    script = (
        f"R, S = {str(tmp_path / 'repo')!r}, {str(src)!r}\n"
        "import sys\n"
        "from drkit.cli.main import cli\n"
        'cli.main(args=["init", "--repo", R], prog_name="drkit", standalone_mode=False)\n'
        'cli.main(args=["backup", "files", S, "--repo", R, "--json"], prog_name="drkit", standalone_mode=False)\n'
        'print("LOADED", "drkit.repository.check" in sys.modules)\n'
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={"DRKIT_PASSWORD": "not-a-secret", "PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stderr
    assert "LOADED False" in proc.stdout, proc.stdout
