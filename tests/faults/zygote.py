"""Run drkit commands as separate processes, either fresh (``python -m drkit.cli.main``) or forked from a
preloaded interpreter (a fork server, "zygote").

A fresh drkit process spends about a second importing on a busy 2-core machine, longer than most of
what a fault loop asks it to do. The zygote imports ``drkit.cli.main`` once; each command is then a
``fork()`` of it that sets up its standard streams and environment and calls ``drkit.cli.main.main(argv)``,
exactly what the console script calls. Every command is still its own process with its own pid (its lock
records that pid; SIGKILL kills it alone), and a kill lands in drkit's work instead of in the imports.
The zygote is single-threaded when it forks.

Protocol (JSON lines over two pipes, not the zygote's stdin/stdout, so no child inherits a half-read
buffer): ``{"op": "run", "argv", "env", "stdin", "stdout", "stderr"}`` → ``{"pid"}``; ``{"op": "poll",
"pid"}`` → ``{"status": exit code or null}``; ``{"op": "wait", "pid"}`` → ``{"status"}``. Exit codes are
``subprocess``'s: negative for a signal. A status is reaped when asked for and answered once, never kept
by pid (the kernel reuses pids); a question about a pid reaped already gets ``{"error"}``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Protocol

PRELOAD = ("drkit.cli.main", "storage_backends.local", "storage_backends.s3", "storage_backends.testing.faulty")


class Run(Protocol):
    """One started drkit command."""

    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int:
        """The exit code; raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        ...

    def kill(self) -> None: ...

    def output(self) -> tuple[bytes, bytes]:
        """stdout and stderr, once it has exited."""
        ...


class Runner(Protocol):
    def start(self, argv: list[str], env: dict[str, str], stdin: Path | None = None) -> Run: ...


def completed(run: Run, argv: list[str], timeout: float | None = None) -> subprocess.CompletedProcess[bytes]:
    """Wait for ``run`` (killing it after ``timeout``) and return it as a CompletedProcess."""
    try:
        code = run.wait(timeout)
    except subprocess.TimeoutExpired:
        run.kill()
        code = run.wait()
    out, err = run.output()
    return subprocess.CompletedProcess(argv, code, out, err)


# --------------------------------------------------------------------------------------------------
# Fresh interpreters
# --------------------------------------------------------------------------------------------------


class _PopenRun:
    def __init__(self, proc: subprocess.Popen[bytes], out: Any, err: Any) -> None:
        self.proc, self.pid, self._out, self._err = proc, proc.pid, out, err

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)

    def output(self) -> tuple[bytes, bytes]:
        data = []
        for f in (self._out, self._err):
            f.seek(0)
            data.append(f.read())
            f.close()
        return data[0], data[1]


class Subprocesses:
    """Each command is a fresh ``python -m drkit.cli.main``."""

    def start(self, argv: list[str], env: dict[str, str], stdin: Path | None = None) -> Run:
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        with open(stdin or os.devnull, "rb") as f:
            proc = subprocess.Popen(
                [sys.executable, "-m", "drkit.cli.main", *argv], stdin=f, stdout=out, stderr=err, env=env
            )
        return _PopenRun(proc, out, err)

    def close(self) -> None:
        return None


# --------------------------------------------------------------------------------------------------
# The fork server
# --------------------------------------------------------------------------------------------------


class _ForkedRun:
    def __init__(self, server: ForkServer, pid: int, out: Path, err: Path) -> None:
        self.server, self.pid, self._out, self._err = server, pid, out, err
        self.status: int | None = None

    def poll(self) -> int | None:
        if self.status is None:  # kept: the zygote answers for a reaped pid once (``_reap``)
            reply = self.server.request({"op": "poll", "pid": self.pid})
            if "error" in reply:
                raise RuntimeError(f"drkit fork server: {reply['error']}")
            self.status = reply["status"]
        return self.status

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(0.01)
        assert self.status is not None
        return self.status

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)

    def output(self) -> tuple[bytes, bytes]:
        try:
            return self._out.read_bytes(), self._err.read_bytes()
        finally:
            self._out.unlink(missing_ok=True)
            self._err.unlink(missing_ok=True)


class ForkServer:
    """A zygote process with drkit imported; use as a context manager."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        scratch.mkdir(parents=True, exist_ok=True)
        req_r, self._req_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, __file__, str(req_r), str(resp_w)], pass_fds=(req_r, resp_w), stdin=subprocess.DEVNULL
        )
        os.close(req_r)
        os.close(resp_w)
        self._reader = os.fdopen(self._resp_r, "rb")
        self._lock = threading.Lock()
        self._count = 0
        self.request({"op": "ping"})  # waits until the imports are done

    def request(self, msg: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            os.write(self._req_w, json.dumps(msg).encode() + b"\n")
            line = self._reader.readline()
        if not line:
            raise RuntimeError(f"drkit fork server exited with {self.proc.wait()}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def start(self, argv: list[str], env: dict[str, str], stdin: Path | None = None) -> Run:
        with self._lock:
            self._count += 1
            n = self._count
        out, err = self.scratch / f"cmd-{n}.out", self.scratch / f"cmd-{n}.err"
        msg = {
            "op": "run",
            "argv": argv,
            "env": env,
            "stdin": str(stdin) if stdin else None,
            "stdout": str(out),
            "stderr": str(err),
        }
        return _ForkedRun(self, self.request(msg)["pid"], out, err)

    def close(self) -> None:
        os.close(self._req_w)
        self._reader.close()
        self.proc.wait(30)

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _child(msg: dict[str, Any], fds: tuple[int, int]) -> None:
    """In the forked child: streams, environment, then drkit's own entry point. Never returns."""
    code = 1
    try:
        for fd in fds:
            os.close(fd)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, path, flags in (
            (0, msg["stdin"] or os.devnull, os.O_RDONLY),
            (1, msg["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            (2, msg["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        ):
            fd = os.open(path, flags, 0o600)
            os.dup2(fd, target)
            os.close(fd)
        os.environ.clear()
        os.environ.update(msg["env"])
        from drkit.cli.main import main

        try:
            main(list(msg["argv"]))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - report anything, then exit like an interpreter would
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001, S110 - a closed stream: nothing more to say
                pass
        os._exit(code)


def _warm_boto3() -> None:
    """Build one S3 client (no request is sent): botocore's module-level caches (endpoint rules, parsed
    models) are then warm in every child, which still builds its own session and client."""
    import boto3

    boto3.session.Session().client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="warm-up",
        aws_secret_access_key="warm-up",
    )


def _reap(pid: int, block: bool) -> dict[str, Any]:
    """A child's exit status, reaped here and handed to the one ``_ForkedRun`` that asks (it keeps it), never
    remembered: once reaped, the kernel may give ``pid`` to a new command, whose status is its own. (A
    table of statuses by pid reported a new command with a reused pid as exited, with its predecessor's
    status, while it still ran: pid_max is 32768 and a busy machine wraps it in minutes.)"""
    try:
        done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:  # reaped already: a second question about it has no true answer
        return {"error": f"pid {pid} was already reaped"}
    return {"status": os.waitstatus_to_exitcode(status) if done else None}


def _serve(req_fd: int, resp_fd: int) -> None:
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    _warm_boto3()
    requests = os.fdopen(req_fd, "rb")
    for line in requests:
        msg = json.loads(line)
        reply: dict[str, Any] = {}
        if msg["op"] == "run":
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(msg, (req_fd, resp_fd))
            reply["pid"] = pid
        elif msg["op"] in ("poll", "wait"):
            reply.update(_reap(msg["pid"], msg["op"] == "wait"))
        os.write(resp_fd, json.dumps(reply).encode() + b"\n")


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]))
