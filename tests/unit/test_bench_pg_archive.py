"""bench/postgres.py's archive_command runs drkit's and pgBackRest's WAL pushes side by side, so neither
tool's backup waits on the other's push (issue 25: like with like), and it fails when either push fails
(PostgreSQL then keeps the segment and retries it, for both)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench_pg() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_postgres", ROOT / "bench" / "postgres.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_postgres"] = module
    spec.loader.exec_module(module)
    return module


def _sh(command: str, cwd: Path) -> int:
    # PostgreSQL runs archive_command through /bin/sh -c, as here
    return subprocess.run(["/bin/sh", "-c", command], cwd=cwd, timeout=60).returncode


def test_the_pushes_run_side_by_side(bench_pg: ModuleType, tmp_path: Path) -> None:
    """drkit's stand-in push reads a FIFO that only pgBackRest's stand-in writes: run one after the other
    (drkit's first, as before) they would block for ever (the timeout fails the test); side by side both end."""
    fifo = tmp_path / "fifo"
    subprocess.run(["mkfifo", str(fifo)], check=True)
    command = bench_pg.archive_command(f"cat {fifo} > drkit.out", f"echo pushed > {fifo}")
    assert _sh(command, tmp_path) == 0
    assert (tmp_path / "drkit.out").read_text() == "pushed\n"


@pytest.mark.parametrize(("drkit", "pgbr"), [("false", "true"), ("true", "false"), ("false", "false")])
def test_the_command_fails_when_either_push_fails(bench_pg: ModuleType, tmp_path: Path, drkit: str, pgbr: str) -> None:
    assert _sh(bench_pg.archive_command(drkit, pgbr), tmp_path) != 0


def test_the_command_succeeds_when_both_pushes_do(bench_pg: ModuleType, tmp_path: Path) -> None:
    assert _sh(bench_pg.archive_command("touch a", "touch b"), tmp_path) == 0
    assert (tmp_path / "a").exists() and (tmp_path / "b").exists()
