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


# The hostile engine's own case run, in such a namespace: the two commands after the injection (`snapshots`,
# `restore OLD`) get pids of commands that exited 0 -- the session 9 finding, made to happen.
ENGINE = r"""
import json, sys
from pathlib import Path
from hostile import Bench, Case
from zygote import ForkServer

work = Path(sys.argv[1])

stale, started = set(), []


def reuse_pids(ctx):
    # 100 consecutive pids of commands that exit 0 and start no thread (a thread takes a pid number too):
    # whatever threads `snapshots` starts, `restore OLD` lands on one of them
    runs = [ctx.target.runner.start(["--version"], ctx.target.env) for _ in range(100)]
    assert [run.wait(120) for run in runs] == [0] * 100
    for run in runs:
        run.output()
    Path("/proc/sys/kernel/ns_last_pid").write_text(str(runs[0].pid - 1))
    stale.update(run.pid for run in runs)
    start = ctx.target.runner.start
    ctx.target.runner.start = lambda *a: started.append(start(*a)) or started[-1]  # notes every later pid
    return 0

with ForkServer(work / "zygote") as server:
    bench = Bench(work / "bench", server)
    bench.prepare()
    report = bench.run_case(Case("reused pids", "test", reuse_pids))
    reused = sum(run.pid in stale for run in started)
    print(json.dumps({"ok": report.ok, "wrong_bytes": report.wrong_bytes, "problems": report.problems,
                      "reused": reused}))
"""


@pytest.mark.timeout(600)
def test_the_hostile_engine_holds_when_pids_are_reused(tmp_path: Path) -> None:
    why = _cannot_unshare()
    if why is not None:
        pytest.skip(why)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent), *sys.path])}
    proc = subprocess.run(
        [*UNSHARE, sys.executable, "-c", ENGINE, str(tmp_path)], capture_output=True, text=True, env=env, timeout=580
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["reused"] >= 2, got  # `snapshots` and `restore OLD` at least
    assert got["wrong_bytes"] == 0 and got["ok"], got["problems"]
