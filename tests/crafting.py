"""Hostile objects, crafted the way an attacker would (issue 20): junk planted without the key, key
objects asking for absurd KDF work, tree blobs and snapshots crafted with the key, directories too deep
for a recursive walker.

Shared by the adversarial tests (tests/adversarial/) and the fault bench's hostile engine
(tests/faults/hostile.py, run by bench/faults.py), so both inject exactly the same inputs. It lives at
the top of tests/ because pytest puts that directory on ``sys.path`` for every test module, and the bench
puts it there too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# Junk under the prefixes a reader lists, written by someone with bucket access but no key.
JUNK_KEYS = [
    "index/" + "a" * 64,
    "snapshots/" + "b" * 64,
    "manifests/pending/" + "c" * 64,
    "manifests/superseded/" + "d" * 64,
    "manifests/forgotten/" + "e" * 64,
]
JUNK = b"junk written by someone without the key"

# A key object asking Argon2 for 1 GiB of memory (``m`` is in KiB): every open would derive it.
GREEDY_KEY: dict[str, Any] = {
    "kdf": "argon2id",
    "kdf_params": {"t": 1, "m": 1 << 20, "p": 1},
    "salt": "AAAAAAAAAAAAAAAAAAAAAA==",
    "data": "AAAA",
    "created": "",
    "host": "",
    "username": "",
}

# Tree blobs (sealed with the key) that once crashed readers: bad types, bad values, bad names.
TREES: dict[str, Any] = {
    "mode is a string": {"nodes": [{"name": "f", "type": "file", "mode": "rwx"}]},
    "content id not hex": {"nodes": [{"name": "f", "type": "file", "size": 1, "content": ["zz"]}]},
    "content id a number": {"nodes": [{"name": "f", "type": "file", "size": 1, "content": [5]}]},
    "lone surrogate name": {"nodes": [{"name": "\ud800x", "type": "file"}]},
    "NUL in link target": {"nodes": [{"name": "l", "type": "symlink", "target": "a\u0000b"}]},
    "mode out of range": {"nodes": [{"name": "f", "type": "file", "mode": 1 << 40}]},
    "mtime out of range": {"nodes": [{"name": "f", "type": "file", "mtime_ns": 1 << 80}]},
    "subtree a number": {"nodes": [{"name": "d", "type": "dir", "subtree": 7}]},
    "nodes not a list": {"nodes": "abc"},
    "not an object": [1, 2, 3],
    "node not an object": {"nodes": [["f", "file"]]},
}
# Names that would leave the restore target or are not one path component; ``ESCAPE`` marks them so a
# caller can look for anything written outside the target.
ESCAPE = "escaped-by-drkit"
BAD_NAMES: dict[str, Any] = {
    f"name {name!r}": {"nodes": [{"name": name, "type": "file", "mode": 0o644, "size": 0, "content": []}]}
    for name in (
        f"../{ESCAPE}",
        f"../../../{ESCAPE}",
        "../" * 12 + f"tmp/{ESCAPE}",
        f"/tmp/{ESCAPE}",
        f"a/{ESCAPE}",
        f"{ESCAPE}\0x",
        "..",
        ".",
        "",
    )
}
BAD_TYPES: dict[str, Any] = {
    f"type {kind!r}": {"nodes": [{"name": "x", "type": kind, "mode": 0o644, "size": 0, "content": []}]}
    for kind in ("weird", 5, None, "")
}


def plant(repo: Path, key: str, data: bytes) -> Path:
    """Write ``data`` as object ``key`` of the local repository at ``repo``, as a raw file."""
    path = repo / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def plant_sparse(repo: Path, key: str, size: int) -> Path:
    """An object of ``size`` bytes that takes no disk space (a sparse file): reading it whole costs RAM."""
    with open(plant(repo, key, b"x"), "r+b") as f:
        f.truncate(size)
    return repo / key


def open_repo(path: Path, password: str):  # type: ignore[no-untyped-def]
    """The repository at ``path``, opened in this process with the key (crafting needs it)."""
    from drkit.repository.repo import Repository
    from storage_backends.local import LocalBackend

    return Repository.open(LocalBackend(path, create=False), password)


def plant_snapshot(path: Path, trees: list[bytes], password: str, blobs: Any = (), name: str = "crafted") -> str:
    """A files snapshot whose root tree is ``trees[0]`` (raw bytes, any JSON or none), the other trees
    stored as tree blobs too (refer to them by ``blob_hex(tree)``); ``blobs``: (id, pack bytes) of
    crafted packs to index. Returns the snapshot id."""
    from drkit.repository import snapshots
    from drkit.repository.format import content_id, index_key, pack_key
    from drkit.repository.index import PackRecord, encode_index
    from drkit.repository.pack import BLOB_TREE, read_entries
    from drkit.repository.writer import BlobWriter

    repo = open_repo(path, password)
    with BlobWriter(repo=repo) as writer:
        ids = [writer.add_blob(BLOB_TREE, tree) for tree in trees]
        writer.flush()
    records = []
    for pack_id, pack in blobs:
        repo.backend.put(pack_key(pack_id.hex()), pack)
        records.append(PackRecord(pack_id.hex(), len(pack), read_entries(pack, repo.cipher, pack_id.hex())))
    if records:
        sealed = encode_index(records, repo.cipher)
        repo.backend.put(index_key(content_id(sealed)), sealed)
    snap = snapshots.Snapshot(
        source_kind="files", source_name=name, root={"type": "tree", "tree": ids[0].hex(), "paths": [f"/{name}"]}
    )
    return str(snapshots.save(repo.manifests, snap).id)


def blob_hex(path: Path, data: bytes, password: str) -> str:
    """The id a blob of ``data`` gets in the repository at ``path``."""
    return str(open_repo(path, password).hasher.digest(data).hex())


def crafted_tree_snapshot(path: Path, tree: Any, password: str) -> str:
    """A snapshot whose root holds one directory ``top`` whose subtree is ``tree`` (any JSON value)."""
    raw = json.dumps(tree).encode()
    root = {"nodes": [{"name": "top", "type": "dir", "mode": 0o700, "subtree": blob_hex(path, raw, password)}]}
    return plant_snapshot(path, [json.dumps(root).encode(), raw], password)


def deep_chain_snapshot(path: Path, depth: int, password: str) -> str:
    """A valid snapshot ``/crafted`` holding ``d/d/…/d`` (``depth`` levels) with an empty file ``f`` at
    the bottom, crafted tree by tree with the key."""
    hasher = open_repo(path, password).hasher
    tree = {"nodes": [{"name": "f", "type": "file", "mode": 0o640, "size": 0, "content": []}]}
    trees = []
    for _ in range(depth):
        raw = json.dumps(tree).encode()
        trees.append(raw)
        tree = {"nodes": [{"name": "d", "type": "dir", "mode": 0o750, "subtree": hasher.digest(raw).hex()}]}
    trees.append(json.dumps(tree).encode())
    return plant_snapshot(path, trees[::-1], password)


def make_deep(root: Path, depth: int) -> Path:
    """``root/d/d/…/d`` (``depth`` levels) with files at the middle and the bottom; made level by level
    with a directory descriptor, so no path is longer than one name."""
    fd = os.open(root, os.O_RDONLY)
    try:
        for level in range(depth):
            os.mkdir("d", 0o750, dir_fd=fd)
            new = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = new
            if level in (depth // 2, depth - 1):
                with open(os.open("f", os.O_WRONLY | os.O_CREAT, 0o640, dir_fd=fd), "wb") as f:
                    f.write(f"level {level}\n".encode() * 50)
    finally:
        os.close(fd)
    return root
