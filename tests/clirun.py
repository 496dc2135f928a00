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
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    full_env = {**os.environ, **(env or {})}
    run = {"capture_output": True, "env": full_env, "timeout": timeout, "cwd": cwd}
    if stdin_file is not None:
        with open(stdin_file, "rb") as f:
            return subprocess.run([*DRKIT, *args], stdin=f, **run)
    return subprocess.run([*DRKIT, *args], input=stdin, **run)


def one_line_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    """The error line of a failed run; asserts there is no traceback."""
    err = proc.stderr.decode()
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("drkit: error: ")]
    assert len(lines) == 1, err
    return lines[0]


def drkit_as_nobody(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """``drkit ARGS`` run as user ``nobody`` (no supplementary groups, no home), from this checkout."""
    import pwd  # noqa: PLC0415 - POSIX only, and only the tests that switch users need it

    nobody = pwd.getpwnam("nobody")
    full_env = {
        **os.environ,
        **(env or {}),
        "HOME": "/nonexistent",
        "XDG_CACHE_HOME": "/nonexistent",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    return subprocess.run(
        [*DRKIT, *args],
        user=nobody.pw_uid,
        group=nobody.pw_gid,
        extra_groups=[],
        capture_output=True,
        env=full_env,
        timeout=300,
        check=False,
    )
