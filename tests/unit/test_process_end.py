"""The process's own entry point (``python -m drkit``, the console script) ends with ``os._exit`` once a command
has its exit status, skipping the interpreter's teardown (drkit/cli/finish.py, issue 25), but only after what a
normal exit guarantees: ``atexit`` callbacks, flushed standard output, and no thread but daemons left running.

A ``sitecustomize`` put first on the child's path plants the probes: an ``atexit`` callback, an object whose
finalizer runs only in the interpreter's teardown, and (when asked) a non-daemon thread that ends after the
main thread did. Each writes a word to a file the test reads after the process ended."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ENV = {"DRKIT_PASSWORD": "pw-process-end", "DRKIT_KDF_MEMORY_KIB": "64"}

SITE = """
import atexit, os, sys, threading, types
_out = os.environ["PROBE_OUT"]
def _note(word, _open=open):  # bound now: the teardown removes the builtins before finalizing the probe
    with _open(_out, "a") as f:
        f.write(word + "\\n")
atexit.register(_note, "atexit")
class _Finalized:
    def __del__(self):
        _note("teardown")
_probe = types.ModuleType("drkit_probe")
_probe.keep = _Finalized()
sys.modules["drkit_probe"] = _probe
if os.environ.get("PROBE_THREAD"):
    def _after_main():
        threading.main_thread().join()
        _note("thread")
    threading.Thread(target=_after_main, daemon=False).start()
"""


def _drkit(
    tmp: Path, *args: str, stdin: bytes = b"", **extra: str
) -> tuple[subprocess.CompletedProcess[bytes], list[str]]:
    site, out = tmp / "site", tmp / "probe.txt"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITE)
    out.unlink(missing_ok=True)
    env = {
        **os.environ,
        **ENV,
        **extra,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
        "PROBE_OUT": str(out),
        "XDG_CACHE_HOME": str(tmp / "cache"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "drkit", *args], input=stdin, capture_output=True, env=env, timeout=120, check=False
    )
    return proc, out.read_text().split() if out.exists() else []


@pytest.fixture
def repo(tmp_path: Path) -> str:
    url = str(tmp_path / "repo")
    proc, _ = _drkit(tmp_path, "init", "--repo", url)
    assert proc.returncode == 0, proc.stderr
    return url


def test_a_command_ends_after_atexit_and_without_the_teardown(tmp_path: Path, repo: str) -> None:
    proc, words = _drkit(tmp_path, "backup", "stdin", "--name", "s", "--repo", repo, "--json", stdin=b"x" * 1000)
    assert proc.returncode == 0, proc.stderr
    assert b'"size": 1000' in proc.stdout  # the JSON document flushed whole
    assert words == ["atexit"]  # the callbacks ran; the teardown (which would finalize the probe) did not


def test_a_failing_command_keeps_its_exit_code_and_error_line(tmp_path: Path, repo: str) -> None:
    proc, words = _drkit(tmp_path, "snapshots", "--repo", repo, DRKIT_PASSWORD="wrong")
    assert proc.returncode == 12
    assert proc.stderr.decode().startswith("drkit: error: wrong passphrase")
    assert words == ["atexit"]


def test_a_thread_still_running_gets_the_normal_exit(tmp_path: Path, repo: str) -> None:
    """A normal exit waits for a non-daemon thread; ``os._exit`` would kill it, so the process exits normally."""
    proc, words = _drkit(tmp_path, "snapshots", "--repo", repo, PROBE_THREAD="1")
    assert proc.returncode == 0, proc.stderr
    assert words[0] == "thread" and "atexit" in words and "teardown" in words


def test_a_stream_restored_to_stdout_is_whole(tmp_path: Path, repo: str) -> None:
    """A restore to standard output ends with the fast exit too: every byte is flushed before it (sha256 of the
    source against what the pipe delivered)."""
    data = os.urandom(3 << 20) + b"tail" * 300_000  # more than a pipe and stdout's buffer hold, random and text
    proc, _ = _drkit(tmp_path, "backup", "stdin", "--name", "s", "--repo", repo, "--quiet", stdin=data)
    assert proc.returncode == 0, proc.stderr
    proc, words = _drkit(tmp_path, "restore", "latest", "--repo", repo, "--to", "-")
    assert proc.returncode == 0, proc.stderr
    assert hashlib.sha256(proc.stdout).hexdigest() == hashlib.sha256(data).hexdigest()
    assert words == ["atexit"]
