"""The hostile engine's oracles, independent of drkit: a digest of a restored tree computed from the file
system, and a search for files written under crafted names."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

from crafting import ESCAPE as ESCAPE_MARK

Listing = tuple[tuple[str, str], ...]  # (relative path, description), sorted
MISSING = "missing"


def tree_sha256(root: Path) -> str:
    """sha256 over every entry under ``root``: relative path, type, permission bits, symlink target or
    file bytes, in sorted order."""
    return listing_sha256(list(tree_listing(root)))


def tree_listing(root: Path) -> Listing:
    """Every entry under ``root`` with what ``tree_sha256`` digests of it. Iterative (a stack, no
    recursion), plain paths (PATH_MAX bounds depth)."""
    entries: list[tuple[str, str]] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        for name in os.listdir(root / rel if rel else root):
            sub = f"{rel}/{name}" if rel else name
            st = os.lstat(root / sub)
            mode = oct(stat.S_IMODE(st.st_mode))
            if stat.S_ISLNK(st.st_mode):
                entries.append((sub, f"L {mode} {os.readlink(root / sub)}"))
            elif stat.S_ISDIR(st.st_mode):
                entries.append((sub, f"D {mode}"))
                stack.append(sub)
            else:
                entries.append((sub, f"F {mode} {st.st_size} {file_sha256(root / sub)}"))
    return tuple(sorted(entries))


def listing_diff(expected: Listing, got: Listing) -> list[str]:
    """The entries that differ, sorted: ``path: expected DESC, got DESC`` (``missing`` on either side)."""
    want, have = dict(expected), dict(got)
    return [
        f"{rel}: expected {want.get(rel, MISSING)}, got {have.get(rel, MISSING)}"
        for rel in sorted(want.keys() | have.keys())
        if want.get(rel) != have.get(rel)
    ]


def listing_sha256(entries: list[tuple[str, str]]) -> str:
    """The digest ``tree_sha256`` computes from its (path, description) entries."""
    h = hashlib.sha256()
    for rel, desc in sorted(entries):
        h.update(f"{rel}\0{desc}\n".encode(errors="surrogateescape"))
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def rm_rf(*paths: Path) -> None:
    """``rm -rf``: shutil.rmtree recurses once per level and fails on very deep trees."""
    subprocess.run(["rm", "-rf", *map(str, paths)], check=True)


def escape_marks(work: Path) -> list[str]:
    """Paths holding ``ESCAPE_MARK`` under ``work`` (its repository aside) or in /tmp; ``find`` copes with
    trees deeper than Python's recursion limit."""
    proc = subprocess.run(
        ["find", str(work), "-path", str(work / "repo"), "-prune", "-o", "-name", f"*{ESCAPE_MARK}*", "-print"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.split() + [str(p) for p in Path("/tmp").glob(f"{ESCAPE_MARK}*")]
