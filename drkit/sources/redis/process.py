"""A throwaway ``redis-server`` on a free loopback port, in a directory of our choosing, used to
load a restored RDB or AOF (the server is the RDB parser: drkit never parses RDB by hand)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from .errors import RedisSourceError

START_TIMEOUT = 600.0  # loading a big dataset takes a while


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise RedisSourceError("redis-server not found on PATH", hint="install Redis 7 (Debian: redis-server)")
    return found


@dataclass(kw_only=True)
class RedisProcess:
    """``redis-server`` on 127.0.0.1:port with ``dir``; ``aof`` loads an AOF directory instead of RDB."""

    dir: Path
    port: int = 0
    aof: bool = False
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    # private=True: a random password, in a 0600 config file (never argv), so that no other local user
    # reads or changes the restored data on the loopback port while drkit copies or verifies it
    private: bool = False
    password: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _config_file(self) -> list[str]:
        if not self.private:
            return []
        self.password = self.password or secrets.token_urlsafe(24)
        conf = self.dir / "redis-drkit.conf"
        conf.unlink(missing_ok=True)
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"requirepass {self.password}\n")
        return [str(conf)]

    def argv(self) -> list[str]:
        args = [
            server_binary(),
            *self._config_file(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--dbfilename",
            "dump.rdb",
            "--save",
            "",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--logfile",
            str(self.dir / "redis-drkit.log"),
        ]
        if self.aof:
            args += ["--appendonly", "yes", "--appenddirname", "appendonlydir"]
        return args + self.extra

    def start(self, timeout: float = START_TIMEOUT) -> RedisProcess:
        self.port = self.port or free_port()
        self.proc = subprocess.Popen(
            self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self.wait_loaded(timeout)
        return self

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, password=self.password, socket_connect_timeout=5)

    def wait_loaded(self, timeout: float) -> None:
        """Poll until the server answers and ``loading:0``; fail if it exits (e.g. a bad file)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RedisSourceError(
                    f"redis-server exited with status {self.proc.returncode} while loading "
                    f"{self.dir}: {self._log_tail()}"
                )
            try:
                with self.client() as c:
                    if int(c.info("persistence").get("loading", 1)) == 0:
                        return
            except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RedisSourceError(f"redis-server on {self.dir} did not finish loading in {timeout:.0f} s")

    def _log_tail(self) -> str:
        try:
            lines = (self.dir / "redis-drkit.log").read_text(errors="replace").splitlines()
        except OSError:
            return "no log"
        return " | ".join(ln.split(" * ")[-1].split(" # ")[-1] for ln in lines[-3:])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def detach(self) -> int:
        """Leave the server running (``--start``); return its pid."""
        assert self.proc is not None
        pid = self.proc.pid
        self.proc = None
        return pid

    def __enter__(self) -> RedisProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
