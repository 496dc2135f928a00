"""``tune_malloc`` (core/memory.py) runs at every command's start-up, before the key derivation starts: serial
time that limits how a backup scales from 1 to 2 CPUs (issue 25). It sets glibc's thresholds through the C
library already in the process, without ``ctypes.util.find_library`` (which runs ``ldconfig -p`` in a child
process and imports shutil and subprocess: ~10 ms of every command)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from drkit.core.memory import tune_malloc

PROBE = """
import subprocess, sys
def refuse(*a, **kw):
    raise AssertionError("tune_malloc started a child process")
subprocess.Popen = refuse
from drkit.core.memory import tune_malloc
print("APPLIED", tune_malloc(), "CTYPES_UTIL", "ctypes.util" in sys.modules)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tune_malloc_applies_glibc_settings_without_a_child_process_or_ctypes_util() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["APPLIED", "True", "CTYPES_UTIL", "False"]


def test_tune_malloc_keeps_working_when_called_again() -> None:
    """prune calls it a second time with its own thresholds."""
    assert tune_malloc(trim_threshold=64 << 20, mmap_threshold=64 << 20) is tune_malloc()
