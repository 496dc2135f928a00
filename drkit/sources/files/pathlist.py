"""Paths to back up read from files (``--files-from``, ``--files-from-verbatim``, ``--files-from-raw``), as
restic reads them: the first skips blank lines and ``#`` comments and expands globs; the verbatim form
takes each line as a path (no comments, no globs; only the newline is removed); the raw form takes
NUL-separated paths (any byte but NUL, newlines included: ``find -print0``). ``-`` reads standard input."""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path

from ...core.errors import UsageError

GLOBBED, VERBATIM, RAW = "files-from", "files-from-verbatim", "files-from-raw"


def _read(source: Path) -> bytes:
    if str(source) == "-":
        return sys.stdin.buffer.read()
    try:
        return source.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror}") from None


def read_paths(source: Path, form: str) -> list[str]:
    """The paths ``source`` lists, in ``form`` (GLOBBED, VERBATIM or RAW); names are bytes on disk, so
    each is decoded as the file system does (``os.fsdecode``: undecodable bytes survive)."""
    data = _read(source)
    if form == RAW:
        return [os.fsdecode(p) for p in data.split(b"\0") if p]
    lines = [os.fsdecode(ln.removesuffix(b"\r") if form == GLOBBED else ln) for ln in data.split(b"\n")]
    if form == VERBATIM:
        return [ln for ln in lines if ln]
    out: list[str] = []
    for line in (ln.strip() for ln in lines):
        if not line or line.startswith("#"):
            continue
        if not any(c in line for c in "*?["):
            out.append(line)
            continue
        found = sorted(glob.glob(line, include_hidden=True))  # dot files too, as restic (Go) globs
        if not found:
            raise UsageError(
                f"--files-from {source}: {line!r} matches nothing",
                hint="a line with *, ? or [ is a glob; --files-from-verbatim takes lines as they are",
            )
        out.extend(found)
    return out
