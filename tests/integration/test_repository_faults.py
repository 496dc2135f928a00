"""Wrong passphrase, damaged objects, interrupted and concurrent backups, and secrets that must
never be printed: each through the real CLI on a local repository."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from clirun import DRKIT, drkit, one_line_error

PASS = "Tr0ub4dor&3-never-print-me"
ENV = {"DRKIT_PASSWORD": PASS}

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    assert drkit("init", "--repo", str(path), "--pack-size-mib", "1", env=ENV).returncode == 0
    return path


def backup(repo: Path, data: bytes, name: str = "s") -> str:
    proc = drkit("backup", "stdin", "--name", name, "--repo", str(repo), "--json", stdin=data, env=ENV)
    assert proc.returncode == 0, proc.stderr
    import json

    return str(json.loads(proc.stdout)["snapshot"])


def restore(repo: Path, ref: str) -> subprocess.CompletedProcess[bytes]:
    return drkit("restore", ref, "--repo", str(repo), "--to", "-", env=ENV)


def tree_state(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_wrong_passphrase_is_one_line_exit_12_and_writes_nothing(repo: Path) -> None:
    backup(repo, os.urandom(100_000))
    before = tree_state(repo)
    for args in (["snapshots"], ["backup", "stdin", "--name", "x"], ["check"], ["restore", "latest", "--to", "-"]):
        proc = drkit(*args, "--repo", str(repo), stdin=b"data", env={"DRKIT_PASSWORD": "wrong"})
        assert proc.returncode == 12, (args, proc.stderr)
        assert "wrong passphrase" in one_line_error(proc)
    assert tree_state(repo) == before


def test_missing_repository_exit_10(tmp_path: Path) -> None:
    proc = drkit("snapshots", "--repo", str(tmp_path / "nothing"), env=ENV)
    assert proc.returncode == 10
    assert "no drkit repository" in one_line_error(proc)


def _objects(repo: Path, prefix: str) -> list[Path]:
    return sorted(p for p in (repo / prefix).rglob("*") if p.is_file())


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["data", "index", "snapshots"])
def test_flipped_byte_is_named_by_check_and_refused_by_restore(repo: Path, tmp_path: Path, kind: str) -> None:
    payload = random.Random(5).randbytes(3 << 20)
    backup(repo, payload)
    assert drkit("check", "--read-data", "--repo", str(repo), env=ENV).returncode == 0
    victim = random.Random(kind).choice(_objects(repo, kind))
    _flip(victim, random.Random(1).randrange(victim.stat().st_size))

    proc = drkit("check", "--read-data", "--repo", str(repo), env=ENV)
    assert proc.returncode == 13, proc.stderr
    assert victim.name[:8] in proc.stderr.decode(), proc.stderr  # the damaged object is named

    target = tmp_path / "restored.bin"
    proc = drkit("restore", "latest", "--repo", str(repo), "--to", str(target), env=ENV)
    if kind == "snapshots":  # the damaged snapshot cannot even be listed: refused, nothing written
        assert proc.returncode == 13, proc.stderr
    else:
        assert proc.returncode == 13, proc.stderr
    one_line_error(proc)
    assert not target.exists()
    assert not list(tmp_path.glob(".restored.bin*"))


def test_sigkill_during_backup_leaves_a_valid_repository(repo: Path, tmp_path: Path) -> None:
    rnd = random.Random(42)
    kept = {backup(repo, rnd.randbytes(2 << 20), "base"): None}
    kept = {ref: restore(repo, ref).stdout for ref in kept}
    src = tmp_path / "big.bin"
    src.write_bytes(rnd.randbytes(24 << 20))
    for run in range(6):
        with open(src, "rb") as f:
            proc = subprocess.Popen(
                [*DRKIT, "backup", "stdin", "--name", f"killed-{run}", "--repo", str(repo)],
                stdin=f,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, **ENV},
            )
            time.sleep(rnd.uniform(0.3, 2.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        check = drkit("check", "--read-data", "--repo", str(repo), env=ENV)
        assert check.returncode == 0, check.stderr
        for ref, data in kept.items():
            assert restore(repo, ref).stdout == data


def test_concurrent_backups_both_succeed(repo: Path) -> None:
    streams = [random.Random(i).randbytes(6 << 20) for i in range(2)]
    results: list[str] = [""] * 2

    def run(i: int) -> None:
        results[i] = backup(repo, streams[i], f"c{i}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for ref, data in zip(results, streams, strict=True):
        assert restore(repo, ref).stdout == data
    assert drkit("check", "--read-data", "--repo", str(repo), env=ENV).returncode == 0


def test_no_secret_in_any_output(repo: Path, tmp_path: Path) -> None:
    outputs: list[bytes] = []
    ref = backup(repo, b"x" * 1000)
    for args in (
        ["snapshots", "--json"],
        ["check", "--read-data", "--json"],
        ["key", "list", "--json"],
        ["--debug", "restore", ref, "--to", "-"],
        ["backup", "stdin", "--name", "j", "--json"],
    ):
        proc = drkit(*args, "--repo", str(repo), stdin=b"abc", env=ENV)
        outputs += [proc.stdout, proc.stderr]
    bad = drkit("--debug", "snapshots", "--repo", str(repo), env={"DRKIT_PASSWORD": PASS + "x"})
    outputs += [bad.stdout, bad.stderr]
    blob = b"\n".join(outputs) + b"".join(tree_state(repo).values())
    assert PASS.encode() not in blob
    assert PASS[:10].encode() not in blob
