"""The daemon's AOF archiver deduplicates against what the repository stores: after an AOF rewrite of an
unchanged dataset (a new base with the same commands, a new empty INCR file) the new files cost little.

On the old code the archiver opened the repository without loading its index, so every blob of the new
base was stored again: a rewrite of an unchanged dataset stored the whole dataset a second time."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
import yaml

from drkit.config import load_config
from drkit.core.metrics import new_registry
from drkit.pipeline import ChunkerParams
from drkit.repository.format import RepoConfig
from drkit.repository.repo import Repository
from drkit.scheduler import kindworkers
from storage_backends import open_backend

KEYS = 2000  # ~2 MiB of incompressible values


def cmd(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def dataset() -> bytes:
    rng = random.Random(24)
    return b"".join(cmd(b"SET", b"key:%d" % i, rng.randbytes(1024)) for i in range(KEYS))


def write_aof(d: Path, seq: int, base: bytes) -> None:
    (d / f"a.{seq}.base.aof").write_bytes(base)
    (d / f"a.{seq}.incr.aof").write_bytes(b"")
    manifest = f"file a.{seq}.base.aof seq {seq} type b\nfile a.{seq}.incr.aof seq {seq} type i\n"
    (d / "a.manifest").write_bytes(manifest.encode())


def stored_bytes(repo_dir: Path) -> int:
    return sum(p.stat().st_size for p in repo_dir.rglob("*") if p.is_file())


def test_a_rewrite_of_an_unchanged_dataset_stores_little(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P", "pw")
    repo_dir, aof = tmp_path / "repo", tmp_path / "appendonlydir"
    small = ChunkerParams(min_size=1 << 10, avg_size=4 << 10, max_size=16 << 10)
    Repository.init(open_backend(str(repo_dir)), "pw", RepoConfig(chunker=small, pack_size=256 << 10)).close()
    doc = {
        "repositories": {"default": {"url": str(repo_dir), "passphrase": {"env": "P"}}},
        # a closed port: the archiver's question about AOF timestamps gets no answer (recorded as unknown)
        "jobs": {
            "cache": {
                "source": {
                    "kind": "redis",
                    "url": "redis://127.0.0.1:1",
                    "aof_dir": str(aof),
                    "archive": {"interval": "1s"},
                }
            }
        },
    }
    (tmp_path / "drkit.yaml").write_text(yaml.safe_dump(doc))
    config = load_config(tmp_path / "drkit.yaml")
    registry, metrics = new_registry(version=None)
    (archiver,) = kindworkers.daemon_workers(config, metrics, registry)
    stop = threading.Event()
    stop.set()  # one round each run
    aof.mkdir()
    data = dataset()
    write_aof(aof, 1, data)
    archiver.run(stop)
    first = stored_bytes(repo_dir)
    assert first > len(data)  # the dataset is incompressible: all of it was stored
    write_aof(aof, 2, data)  # BGREWRITEAOF of an unchanged dataset
    archiver.run(stop)
    assert stored_bytes(repo_dir) - first < len(data) // 10
