"""Helpers shared by the fault engines (killing.py, bitflips.py, diskfull.py) and bench/faults.py:
where a repository lives (``Target``), running the real ``drkit`` as a subprocess, deterministic
streams and file trees with their digests, and restoring a snapshot to compare it with its digest.

Standard library only (drkit runs as separate processes: zygote.py), so the bench imports it with
``tests/faults/`` on ``sys.path``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zygote import Run, Runner, Subprocesses, completed

PASSWORD = "faults-pw-7d2e"
MIB = 1 << 20
TIMEOUT = 600.0
_FOREIGN = ("DRKIT_", "AWS_", "GOOGLE_", "STORAGE_EMULATOR_HOST")


def drkit_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every drkit run: the caller's minus DRKIT_*/cloud settings, a private HOME
    and cache, the test-only backends switched on, the passphrase, and a cheap KDF for the key objects
    ``init`` writes (every later run opens the repository with the parameters stored in its key)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN)}
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        DRKIT_PASSWORD=PASSWORD,
        DRKIT_KDF_MEMORY_KIB="64",
        DRKIT_TEST_BACKENDS="1",
    )  # faulty+… URLs exist only with it
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class Target:
    """A repository location, the environment drkit needs to reach it, and how drkit is run."""

    name: str  # "local", "s3", ...
    url: str
    env: dict[str, str]
    runner: Runner = field(default_factory=Subprocesses, compare=False)

    def spawn(self, *args: str, stdin_file: Path | None = None, url: str | None = None) -> Run:
        """Start ``drkit ARGS --repo URL``."""
        return self.runner.start([*args, "--repo", url or self.url], self.env, stdin_file)

    def run(
        self, *args: str, stdin_file: Path | None = None, url: str | None = None, timeout: float = TIMEOUT
    ) -> subprocess.CompletedProcess[bytes]:
        """``drkit ARGS --repo URL``, to completion."""
        return completed(self.spawn(*args, stdin_file=stdin_file, url=url), ["drkit", *args], timeout)


def local_target(root: Path, home: Path, runner: Runner | None = None) -> Target:
    return Target("local", str(root), drkit_env(home), runner or Subprocesses())


def s3_target(server: Any, bucket: str, prefix: str, home: Path, runner: Runner | None = None) -> Target:
    """A repository on a SeaweedFS server (tests/servers/seaweedfs.py), credentials from the environment."""
    creds = {
        **server.env(),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return Target(
        "s3", server.url(server.make_bucket(bucket), prefix), drkit_env(home, creds), runner or Subprocesses()
    )


def error_text(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stderr.decode(errors="replace").strip().replace("\n", " | ")[-400:]


def must(proc: subprocess.CompletedProcess[bytes], what: str) -> subprocess.CompletedProcess[bytes]:
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed with exit {proc.returncode}: {error_text(proc)}")
    return proc


# --------------------------------------------------------------------------------------------------
# Deterministic content
# --------------------------------------------------------------------------------------------------


def write_stream(path: Path, seed: int, label: str, mib: int) -> str:
    """A stream of ``mib`` MiB: a quarter shared by every label (deduplicated), the rest the label's
    own. Returns its sha256."""
    shared = random.Random(f"{seed}:shared").randbytes(max(1, mib // 4) * MIB)
    own = random.Random(f"{seed}:{label}").randbytes(max(1, mib - mib // 4) * MIB)
    path.write_bytes(shared + own)
    return hashlib.sha256(shared + own).hexdigest()


def write_tree(root: Path, seed: int, label: str, *, files: int = 12) -> str:
    """A small tree: ``files`` shared files written once (so later backups reuse them from their
    parent) plus a ``var/`` directory rewritten for each label. Returns ``tree_digest(root)``."""
    rng = random.Random(f"{seed}:tree")
    for i in range(files):
        path = root / f"d{i % 3}" / f"shared-{i}.bin"
        size = rng.randrange(1, 96 << 10)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(random.Random(f"{seed}:tree:{i}").randbytes(size))
    shutil.rmtree(root / "var", ignore_errors=True)
    (root / "var" / "log").mkdir(parents=True)
    own = random.Random(f"{seed}:{label}:tree")
    for i in range(6):
        (root / "var" / ("log" if i % 2 else "") / f"{label}-{i}.dat").write_bytes(
            own.randbytes(own.randrange(1, 384 << 10))
        )
    return tree_digest(root)


def tree_digest(root: Path) -> str:
    """sha256 over every entry's relative path, type and content, in sorted order."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            h.update(f"L {rel} {os.readlink(path)}\n".encode())
        elif path.is_dir():
            h.update(f"D {rel}\n".encode())
        else:
            h.update(f"F {rel} {path.stat().st_size}\n".encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(MIB):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------
# Snapshots: list, restore, compare
# --------------------------------------------------------------------------------------------------


def list_snapshots(target: Target) -> dict[str, dict[str, Any]]:
    """id → snapshot document (``drkit snapshots --json``); raises if the listing fails."""
    proc = must(target.run("snapshots", "--json"), "drkit snapshots")
    return {s["id"]: s for s in json.loads(proc.stdout)}


@dataclass(frozen=True)
class RestoreResult:
    code: int
    digest: str | None  # of what was restored, when it exited 0
    leftover: bool  # a failed restore left a file (or partial file) behind
    error: str


def restore_snapshot(target: Target, snap: dict[str, Any], scratch: Path) -> RestoreResult:
    """Restore a stream snapshot with ``restore ID --to FILE``, a files snapshot with ``restore files ID
    --target DIR``; digest what came out, then remove it."""
    out = scratch / f"restore-{snap['id'][:12]}-{time.monotonic_ns()}"
    try:
        if snap["root"]["type"] == "tree":
            proc = target.run("restore", "files", snap["id"], "--target", str(out))
            name = os.path.basename(snap["root"]["paths"][0].rstrip("/"))
            digest = tree_digest(out / name) if proc.returncode == 0 else None
            return RestoreResult(proc.returncode, digest, False, error_text(proc))
        proc = target.run("restore", snap["id"], "--to", str(out))
        digest = file_digest(out) if proc.returncode == 0 else None
        leftover = proc.returncode != 0 and any(scratch.glob(f"*{out.name}*"))
        return RestoreResult(proc.returncode, digest, leftover, error_text(proc))
    finally:
        if out.is_dir():
            shutil.rmtree(out)
        for stray in scratch.glob(f"*{out.name}*"):
            stray.unlink()


def label_of(snap: dict[str, Any], expected: dict[str, str]) -> str | None:
    """The snapshot's content label: the one of its tags that ``expected`` knows."""
    return next((t for t in snap.get("tags", []) if t in expected), None)
