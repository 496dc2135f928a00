"""Shared by the test_hostile_* modules: a repository on the local disk driven through the CLI as a
subprocess (real exit codes), objects planted the way someone with bucket write access would, and an
independent tree comparison (rsync, not drkit's own metadata)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PASSWORD = "hostile-test-passphrase"
ENV = {"DRKIT_PASSWORD": PASSWORD}
DRKIT = [sys.executable, "-m", "drkit.cli.main"]
RSS_CHILD = (
    "import resource, subprocess, sys\n"
    "p = subprocess.run(sys.argv[1:], capture_output=True)\n"
    "sys.stdout.buffer.write(p.stdout); sys.stderr.buffer.write(p.stderr)\n"
    "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(p.returncode)\n"
)


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DRKIT, *args], capture_output=True, text=True, env={**os.environ, **ENV, **(env or {})}, timeout=timeout
    )


def run_measured(*args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run drkit and return its peak resident memory in KiB (measured by a parent of its own)."""
    proc = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, *DRKIT, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV},
        timeout=300,
    )
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("MAXRSS_KB ")][-1]
    return proc, int(line.split()[1])


def ok(*args: str) -> str:
    proc = run(*args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def one_line(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """The single ``drkit: error:`` line of a run that exited ``code``, with no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("drkit: error: ")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def backup(repo: Path, src: Path) -> str:
    out = json.loads(ok("backup", "files", str(src), "--repo", str(repo), "--json"))
    return str(out["snapshot"])


def plant(repo: Path, key: str, data: bytes) -> Path:
    path = repo / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def same_tree(a: Path, b: Path) -> None:
    """rsync, an independent tool, finds no difference in content, modes, times, links, xattrs or ACLs."""
    proc = subprocess.run(
        ["rsync", "-aHAXS", "--dry-run", "--checksum", "--itemize-changes", "--delete", f"{a}/", f"{b}/"],
        capture_output=True,
        text=True,
        check=True,
    )
    changes = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert changes == [], proc.stdout[:2000]


def open_repo(path: Path):  # type: ignore[no-untyped-def]
    """The repository at ``path``, opened in this process with the key (crafting needs it)."""
    from drkit.repository.repo import Repository
    from storage_backends.local import LocalBackend

    return Repository.open(LocalBackend(path, create=False), PASSWORD)


def plant_snapshot(path: Path, trees: list[bytes], blobs: list[tuple[bytes, bytes]] = ()) -> str:  # type: ignore[assignment]
    """A files snapshot whose root tree is ``trees[0]`` (raw bytes, any JSON or none), the other trees
    stored as tree blobs too (refer to them by ``blob_hex(tree)``); ``blobs``: (id, pack bytes) of
    crafted packs to index. Returns the snapshot id."""
    from drkit.repository import snapshots
    from drkit.repository.format import content_id, index_key, pack_key
    from drkit.repository.index import PackRecord, encode_index
    from drkit.repository.pack import BLOB_TREE, read_entries
    from drkit.repository.writer import BlobWriter

    repo = open_repo(path)
    with BlobWriter(repo) as writer:
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
        source_kind="files", source_name="crafted", root={"type": "tree", "tree": ids[0].hex(), "paths": ["/crafted"]}
    )
    return snapshots.save(repo.manifests, snap).id


def blob_hex(path: Path, data: bytes) -> str:
    """The id a blob of ``data`` gets in the repository at ``path``."""
    return str(open_repo(path).hasher.digest(data).hex())
