"""A ``drkit backup stdin`` driven by the test: it feeds the stream block by block (so the test decides
when the backup is mid-stream), reads stderr as it comes (so the test can wait for a retry warning), and
digests what it fed (the oracle a restore is compared with). Standard library only."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faultkit import drkit_env

from drkit.repository.format import pack_key

MIB = 1 << 20
BLOCK = 256 << 10


def wait_for(
    what: str,
    check: Callable[[], bool],
    timeout: float = 120.0,
    every: float = 0.05,
    alive: subprocess.Popen[bytes] | None = None,
) -> None:
    """Poll ``check`` until true; fail naming ``what`` after ``timeout`` seconds, or once ``alive`` exited."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline or (alive is not None and alive.poll() is not None):
            raise AssertionError(f"no {what} (process exit {alive and alive.poll()})")
        time.sleep(every)


class FedBackup:
    """``drkit backup stdin`` whose stdin this object writes, ``mib`` MiB of seeded random bytes."""

    def __init__(self, env: dict[str, str], url: str, *, mib: int, seed: int, extra: tuple[str, ...] = ()) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "drkit.cli.main",
                *extra,
                "backup",
                "stdin",
                "--name",
                "outage",
                "--json",
                "--repo",
                url,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self._rng = random.Random(seed)
        self._left = mib * MIB
        self.fed = 0
        self.sha = hashlib.sha256()
        self.lines: list[str] = []
        self._lines_changed = threading.Condition()
        self._stdout = b""
        self._readers = [threading.Thread(target=fn, daemon=True) for fn in (self._read_stderr, self._read_stdout)]
        for reader in self._readers:
            reader.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            with self._lines_changed:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._lines_changed.notify_all()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        self._stdout = self.proc.stdout.read()

    def feed(self, nbytes: int) -> None:
        """Write up to ``nbytes`` more of the stream (blocks while the backup does not read)."""
        assert self.proc.stdin is not None
        while nbytes > 0 and self._left > 0:
            block = self._rng.randbytes(min(BLOCK, nbytes, self._left))
            self.proc.stdin.write(block)
            self.sha.update(block)
            self.fed += len(block)
            self._left -= len(block)
            nbytes -= len(block)
        self.proc.stdin.flush()

    def feed_until(self, what: str, check: Callable[[], bool], *, upto: int, timeout: float = 300.0) -> None:
        """Feed the stream block by block, at most ``upto`` bytes in all, until ``check`` holds.

        How much a backup uploads from a given number of fed bytes depends on its repository's secret chunker
        seed: the chunker reads 16 MiB at a time and cuts only chunks ending at least ``max_size`` (4 MiB) before
        the end of what it read, and where the chunks fall decides how many 1 MiB packs they fill. A fixed feed
        (24 MiB: 6 to 11 packs over 20 fresh repositories) can leave the backup waiting for input the test only
        sends after its wait: a stall until the timeout. With ``upto`` short of the stream's end the backup
        stays mid-stream however much it needed."""
        deadline = time.monotonic() + timeout
        while not check():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"no {what} after feeding {self.fed / MIB:.1f} MiB in {timeout:.0f} s "
                    f"(backup exit {self.proc.poll()}): {self.lines[-5:]}"
                )
            if self.fed < upto:
                self.feed(min(BLOCK, upto - self.fed))
            else:
                time.sleep(0.05)

    def feed_rest_in_background(self) -> threading.Thread:
        """Feed the rest of the stream and close stdin, from a thread (the backup may stall on the store)."""

        def run() -> None:
            try:
                self.feed(self._left)
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            except (BrokenPipeError, ValueError):  # the backup died or was killed: the test sees its exit
                pass

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def retry_warnings(self) -> list[dict[str, Any]]:
        """The JSON log records of storage retries so far."""
        found = []
        for line in list(self.lines):
            if line.startswith("{") and '"storage_backends.retry"' in line:
                found.append(json.loads(line))
        return found

    def wait_retries(self, count: int, timeout: float = 120.0) -> None:
        with self._lines_changed:
            if not self._lines_changed.wait_for(
                lambda: len(self.retry_warnings()) >= count or self.proc.poll() is not None, timeout
            ):
                raise AssertionError(f"no {count} retry warnings within {timeout} s: {self.lines[-5:]}")

    def finish(self, timeout: float = 300.0) -> tuple[int, dict[str, Any] | None]:
        code = self.proc.wait(timeout)
        for reader in self._readers:  # they end at EOF of the exited process's pipes
            reader.join(timeout)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        out = self._stdout.strip()
        return code, (json.loads(out) if code == 0 and out else None)

    @property
    def digest(self) -> str:
        return self.sha.hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(MIB):
            h.update(block)
    return h.hexdigest()


def s3_env(server: Any, home: Path) -> dict[str, str]:
    """drkit's environment for a repository on ``server`` (tests/servers/seaweedfs.py)."""
    creds = {
        **server.env(),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return drkit_env(home, creds)


def objects(server: Any, bucket: str, prefix: str) -> dict[str, int]:
    """key → size of every object under ``prefix/``, listed straight from the server (not through drkit)."""
    client, found = server.client(), {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        found.update({o["Key"][len(prefix) + 1 :]: int(o["Size"]) for o in page.get("Contents", [])})
    return found


def packs(found: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in found.items() if k.startswith("data/")}


_INDEXED_PACKS = """
import json, os, sys
from drkit.ops.session import open_repository
repo = open_repository(sys.argv[1], os.environ["DRKIT_PASSWORD"])
try:
    repo.load_index()
    print(json.dumps(sorted(repo.index.pack_sizes)))
finally:
    repo.close()
"""


def indexed_packs(env: dict[str, str], url: str) -> set[str]:
    """The ``data/`` keys of the packs the repository's index objects name, read by drkit in a subprocess
    (``env`` reaches the store); with ``objects`` it tells uploaded packs from indexed ones."""
    proc = subprocess.run(
        [sys.executable, "-c", _INDEXED_PACKS, url], env=env, capture_output=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return {pack_key(pack_id) for pack_id in json.loads(proc.stdout)}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "drkit.cli.main", *args], env=env, capture_output=True, timeout=300)


def restore_digest(env: dict[str, str], url: str, snapshot: str, out: Path) -> str:
    """sha256 of snapshot ``snapshot`` restored with ``drkit restore ID --to FILE``."""
    proc = run(env, "restore", snapshot, "--to", str(out), "--repo", url)
    assert proc.returncode == 0, proc.stderr
    return sha256_file(out)
