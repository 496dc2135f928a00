"""The fork server (zygote.py) reports each command's own exit status, even when the kernel gives a new
command the pid of one that already exited (pid_max is 32768 here and a busy machine wraps it in minutes).

The zygote used to remember every status by pid, forever: a command that got a reused pid was reported as
exited, with its predecessor's status, while it still ran. The hostile bench then compared a restore still
being written with its source ("restored (exit 0) unlike its source", S3, SIGHUP case, session 9)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.fault

HERE = Path(__file__).resolve().parent
UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]

# Runs as pid 1 of a new PID namespace, where nothing else forks: ns_last_pid then picks the next pid.
SCRIPT = r"""
import json, os, sys
from pathlib import Path
from zygote import ForkServer

scratch, fifo = Path(sys.argv[1]), sys.argv[2]
env = dict(os.environ)
with ForkServer(scratch) as server:
    first = server.start(["--version"], env)
    first_status = first.wait(120)
    Path("/proc/sys/kernel/ns_last_pid").write_text(str(first.pid - 1))
    second = server.start(["--version"], env, stdin=Path(fifo))  # blocks opening its stdin: no writer yet
    while_running = second.poll()
    os.close(os.open(fifo, os.O_WRONLY))  # now it can open its stdin, read EOF and exit
    print(json.dumps({"first": [first.pid, first_status], "second": [second.pid, while_running, second.wait(120)]}))
"""


def _cannot_unshare() -> str | None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "needs root and unshare(1)"
    if subprocess.run([*UNSHARE, "true"], capture_output=True).returncode != 0:
        return "no right to make PID namespaces here"
    return None


def test_a_reused_pid_is_not_reported_with_the_old_commands_status(tmp_path: Path) -> None:
    why = _cannot_unshare()
    if why is not None:
        pytest.skip(why)
    fifo = tmp_path / "stdin"
    os.mkfifo(fifo)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    proc = subprocess.run(
        [*UNSHARE, sys.executable, "-c", SCRIPT, str(tmp_path / "zygote"), str(fifo)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    first_pid, first_status = got["first"]
    second_pid, while_running, final = got["second"]
    assert first_status == 0
    assert second_pid == first_pid, "the setup failed: the second command did not get the first one's pid"
    assert while_running is None, "a command still running was reported as exited (its pid's old status)"
    assert final == 0
