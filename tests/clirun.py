"""Run the installed `drkit` as a subprocess, the way users and cron do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DRKIT = [sys.executable, "-m", "drkit.cli.main"]


def drkit(
    *args: str,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    stdin_file: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[bytes]:
    full_env = {**os.environ, **(env or {})}
    if stdin_file is not None:
        with open(stdin_file, "rb") as f:
            return subprocess.run([*DRKIT, *args], stdin=f, capture_output=True, env=full_env, timeout=timeout)
    return subprocess.run([*DRKIT, *args], input=stdin, capture_output=True, env=full_env, timeout=timeout)


def one_line_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    """The error line of a failed run; asserts there is no traceback."""
    err = proc.stderr.decode()
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("drkit: error: ")]
    assert len(lines) == 1, err
    return lines[0]
