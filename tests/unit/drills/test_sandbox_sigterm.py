"""A drill killed with SIGTERM (``timeout``, systemd, a CronJob's deadline) still removes its
private directory, which holds the restored data (and a physical drill's passphrase file)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

# the child prints the directory once it exists, then waits for the signal
CHILD = """
import signal, sys
from drkit.drills.sandbox.workdir import workdir
with workdir("sigterm") as work:
    (work / "restored").write_text("production data")
    print(work, flush=True)
    signal.pause()
"""


def test_sigterm_removes_the_drill_directory(tmp_path: Path) -> None:
    """Before: SIGTERM killed the process at once and the directory stayed (exit -15)."""
    env = {**os.environ, "DRKIT_DRILL_TMP": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        work = Path(proc.stdout.readline().decode().strip())
        assert (work / "restored").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
        assert not work.exists()
        assert list(tmp_path.iterdir()) == []
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
