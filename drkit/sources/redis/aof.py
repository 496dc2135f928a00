"""Redis 7 multi-part AOF directories: the manifest, a consistent backup of the files it names,
timestamp annotations, and the settings point-in-time recovery needs.

A backup reads the manifest, stores each file it names (base and INCR files) up to the size seen
at the start, then re-reads the manifest and the sizes: if an AOF rewrite replaced the files in
the meantime it tries again. INCR files only grow, so a prefix read while Redis appends is a
consistent state (Redis loads a truncated last command with ``aof-load-truncated yes``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from ...core.errors import UsageError
from .errors import RedisSettingsError

MANIFEST_SUFFIX = ".manifest"
TS_RE = re.compile(rb"(?:^|\n)#TS:(\d+)\r\n")
# Redis settings continuous archiving and point-in-time restore depend on. Archiving goes on with
# aof-timestamp-enabled off (a warning; each round records it and a point in time refuses those bytes).
REQUIRED = {"appendonly": "yes"}
RECOMMENDED = {"aof-timestamp-enabled": "yes", "aof-disable-auto-gc": "yes"}
WHY = {
    "aof-timestamp-enabled": "no point in time is restorable inside what is archived while it is off",
    "aof-disable-auto-gc": "an AOF rewrite may delete INCR files before they are archived",
}


@dataclass(frozen=True)
class AofFile:
    name: str
    seq: int
    type: str  # b (base), i (incr), h (history)
    size: int = 0


@dataclass(frozen=True)
class AofState:
    """The manifest's text and the files it names, with their sizes and the base's mtime."""

    manifest_name: str
    manifest: bytes
    files: tuple[AofFile, ...]
    base_mtime: float

    @property
    def base(self) -> AofFile | None:
        return next((f for f in self.files if f.type == "b"), None)

    @property
    def incrs(self) -> list[AofFile]:
        return sorted((f for f in self.files if f.type == "i"), key=lambda f: f.seq)

    def same_layout(self, other: AofState) -> bool:
        return (
            self.manifest == other.manifest
            and self.base == other.base
            and all(a.size <= b.size for a, b in zip(self.incrs, other.incrs, strict=True))
        )


def parse_manifest(text: bytes) -> list[AofFile]:
    """Lines ``file NAME seq N type T`` (key/value pairs, in any order)."""
    files = []
    for line in text.decode().splitlines():
        words = line.split()
        if not words:
            continue
        fields = dict(zip(words[0::2], words[1::2], strict=False))
        if "file" not in fields or "type" not in fields:
            raise UsageError(f"unreadable AOF manifest line {line!r}")
        files.append(AofFile(fields["file"], int(fields.get("seq", 0)), fields["type"]))
    return files


def render_manifest(files: list[AofFile]) -> bytes:
    return b"".join(f"file {f.name} seq {f.seq} type {f.type}\n".encode() for f in files)


def find_manifest(aof_dir: Path) -> Path:
    found = sorted(aof_dir.glob("*" + MANIFEST_SUFFIX)) if aof_dir.is_dir() else []
    if len(found) != 1:
        raise UsageError(
            f"{aof_dir} is not a Redis 7 AOF directory (expected one *.manifest file)",
            hint="pass the appendonlydir (appenddirname) of a server with appendonly yes",
        )
    return found[0]


def read_state(aof_dir: Path) -> AofState:
    manifest_path = find_manifest(aof_dir)
    text = manifest_path.read_bytes()
    files = []
    base_mtime = 0.0
    for f in parse_manifest(text):
        if f.type == "h":
            continue  # history files are no longer part of the dataset
        st = os.stat(aof_dir / f.name)
        files.append(AofFile(f.name, f.seq, f.type, st.st_size))
        if f.type == "b":
            base_mtime = st.st_mtime
    return AofState(manifest_path.name, text, tuple(files), base_mtime)


class LimitedReader:
    """At most ``limit`` bytes of a file; records ``#TS:`` annotations seen (first and last)."""

    def __init__(self, path: Path, limit: int, offset: int = 0) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._f.seek(offset)
        self.left = limit
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        self._tail = b"\n"

    def read(self, size: int = -1) -> bytes:
        n = self.left if size is None or size < 0 else min(size, self.left)
        data = self._f.read(n) if n > 0 else b""
        self.left -= len(data)
        self._scan(data)
        return data

    def _scan(self, data: bytes) -> None:
        window = self._tail + data
        stamps = [int(m) for m in TS_RE.findall(window)]
        if stamps:
            self.first_ts = stamps[0] if self.first_ts is None else self.first_ts
            self.last_ts = stamps[-1]
        self._tail = window[-32:]

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._f.close()


def scan_timestamps(data: bytes) -> list[int]:
    return [int(m) for m in TS_RE.findall(b"\n" + data)]


def check_settings(c: redis.Redis, *, for_pitr: bool) -> list[str]:
    """Raise when a required setting is off; return warnings for recommended ones."""
    config = {k: str(v) for k, v in c.config_get("*").items()} if for_pitr else {}
    if not for_pitr:
        config = {k: str(v) for k, v in c.config_get("appendonly").items()}
    required = REQUIRED if for_pitr else {"appendonly": "yes"}
    wrong = [f"{k} {config.get(k)!r} (needs {v!r})" for k, v in required.items() if config.get(k) != v]
    if wrong:
        raise RedisSettingsError(
            "Redis settings do not allow this AOF backup: " + ", ".join(wrong),
            hint="set them with CONFIG SET or in redis.conf",
        )
    return [f"{k} is {config.get(k)!r}: {WHY[k]}" for k, v in RECOMMENDED.items() if for_pitr and config.get(k) != v]


def iter_state_files(state: AofState) -> Iterator[AofFile]:
    base = state.base
    if base is not None:
        yield base
    yield from state.incrs


def describe(state: AofState, timestamps: dict[str, tuple[int | None, int | None]]) -> dict[str, Any]:
    """Snapshot metadata for an AOF backup."""
    firsts = [a for a, _ in timestamps.values() if a is not None]
    lasts = [b for _, b in timestamps.values() if b is not None]
    return {
        "mode": "aof",
        "manifest": state.manifest_name,
        "base_mtime": state.base_mtime,
        "files": [{"name": f.name, "seq": f.seq, "type": f.type, "size": f.size} for f in state.files],
        "base": state.base.name if state.base else None,
        "first_ts": min(firsts) if firsts else None,
        "last_ts": max(lasts) if lasts else None,
    }
