"""The key derivation started ahead (keys.derive_ahead, ops/keyahead.py): `drkit backup stdin` on a local
repository derives the key while its modules load (issue 25), and the open takes that derivation instead of
deriving twice. It verifies nothing itself: a wrong passphrase is still exit 12 with nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from clirun import DRKIT, drkit, one_line_error

import drkit.repository.keys as keys
from drkit.repository.keys import KdfParams, MasterKey, derive_ahead, unwrap_master_key, wrap_master_key

FAST = KdfParams(time_cost=1, memory_kib=64, parallelism=1)


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count ``_derive`` calls (the name of the thread each ran in); no derivation left from another test."""
    monkeypatch.setattr(keys, "_ahead", {})
    calls: list[str] = []
    real = keys._derive

    def counted(passphrase: str, salt: bytes, params: KdfParams) -> bytes:
        calls.append(threading.current_thread().name)
        return real(passphrase, salt, params)

    monkeypatch.setattr(keys, "_derive", counted)
    return calls


def test_the_open_takes_the_derivation_started_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    master = MasterKey.generate()
    wrapped = wrap_master_key(master, "pw", FAST)
    calls = _counting(monkeypatch)
    derive_ahead(wrapped, "pw")
    opened = unwrap_master_key(wrapped, "pw")
    assert opened is not None and opened.encryption == master.encryption and opened.blob_id == master.blob_id
    assert calls == ["drkit-kdf"]  # derived once, in the thread started ahead
    assert not keys._ahead  # taken: nothing kept for a later open


def test_a_wrong_passphrase_derived_ahead_opens_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    wrapped = wrap_master_key(MasterKey.generate(), "pw", FAST)
    calls = _counting(monkeypatch)
    derive_ahead(wrapped, "wrong")
    assert unwrap_master_key(wrapped, "wrong") is None
    assert unwrap_master_key(wrapped, "pw") is not None  # another passphrase: derived on its own
    assert calls == ["drkit-kdf", "MainThread"]


def test_a_malformed_key_object_is_left_to_the_open(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    derive_ahead(b"{not json", "pw")
    assert calls == [] and not keys._ahead


def test_only_the_latest_derivation_ahead_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """An open that failed before it took its derivation (a missing config, say) leaves nothing behind."""
    first, second = (wrap_master_key(MasterKey.generate(), "pw", FAST) for _ in range(2))
    calls = _counting(monkeypatch)
    derive_ahead(first, "pw")
    derive_ahead(second, "pw")
    assert len(keys._ahead) == 1
    assert unwrap_master_key(second, "pw") is not None and not keys._ahead
    assert "MainThread" not in calls  # the open took the derivation started for its key object


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_backup_stdin_with_a_wrong_passphrase_is_exit_12_and_writes_nothing(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    env = {"DRKIT_KDF_MEMORY_KIB": "64", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert drkit("init", "--repo", str(repo), env={**env, "DRKIT_PASSWORD": "right"}).returncode == 0
    before = _files(repo)
    proc = drkit(
        "backup",
        "stdin",
        "--name",
        "s",
        "--repo",
        str(repo),
        stdin=os.urandom(100_000),
        env={**env, "DRKIT_PASSWORD": "x"},
    )
    assert proc.returncode == 12, proc.stderr
    assert "wrong passphrase" in one_line_error(proc)
    assert _files(repo) == before  # no lock, pack, index or snapshot: not one byte changed
    good = drkit(
        "backup",
        "stdin",
        "--name",
        "s",
        "--repo",
        str(repo),
        stdin=b"data\n" * 1000,
        env={**env, "DRKIT_PASSWORD": "right"},
    )
    assert good.returncode == 0, good.stderr
    restored = drkit("restore", "latest", "--repo", str(repo), "--to", "-", env={**env, "DRKIT_PASSWORD": "right"})
    assert restored.returncode == 0 and restored.stdout == b"data\n" * 1000


COUNTED_BACKUP = """
import sys, threading
import drkit.repository.keys as keys
real, names = keys._derive, []
def counted(*args):
    names.append(threading.current_thread().name)
    return real(*args)
keys._derive = counted
from drkit.cli.main import cli
cli.main(args=["backup", "stdin", "--name", "s", "--repo", sys.argv[1]], prog_name="drkit", standalone_mode=False)
print("DERIVED IN", names)
"""


def test_backup_stdin_derives_the_key_once_ahead_of_its_imports(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    env = {**os.environ, "DRKIT_KDF_MEMORY_KIB": "64", "DRKIT_PASSWORD": "pw", "XDG_CACHE_HOME": str(tmp_path / "c")}
    assert drkit("init", "--repo", str(repo), env=env).returncode == 0
    proc = subprocess.run(
        [sys.executable, "-c", COUNTED_BACKUP, str(repo)],
        input=b"data\n" * 1000,
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert b"DERIVED IN ['drkit-kdf']" in proc.stdout, proc.stdout


def test_a_refused_repository_url_reads_no_passphrase(tmp_path: Path) -> None:
    """An unknown scheme (or a missing extra, a malformed URL) is refused before any passphrase is read, as
    before the key was derived ahead: no --password-command run, no prompt, and exit 2, not 12 for none given."""
    marker = tmp_path / "ran"
    command = f"sh -c 'echo ran >> {marker}; echo pw'"
    args = ("backup", "stdin", "--name", "s", "--repo", "nosuch://bucket/x")
    proc = drkit(*args, "--password-command", command, stdin=b"data\n")
    assert proc.returncode == 2, proc.stderr
    assert "unknown storage scheme 'nosuch'" in one_line_error(proc)
    assert not marker.exists()  # the password command never ran
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRKIT_PASSWORD")}
    bare = subprocess.run([*DRKIT, *args], input=b"data\n", capture_output=True, env=env, timeout=120, check=False)
    assert bare.returncode == 2 and "unknown storage scheme" in one_line_error(bare)
