"""Restoring a stream into a file with run reads and pwrite workers (sources/redis/streamfile.py):
identical bytes across many packs, runs and a repeated blob; a damaged pack leaves no file behind."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import pytest
from refusing_fs import RefusingFcntl, takes_o_direct

from drkit.core import filewriters
from drkit.core.errors import IntegrityError
from drkit.core.filewriters import FileWriter
from drkit.pipeline import ChunkerParams
from drkit.repository import runs as run_reads
from drkit.repository.format import DATA_PREFIX, RepoConfig
from drkit.repository.repo import Repository
from drkit.repository.snapshots import Snapshot
from drkit.repository.streams import SourceRef, backup_stream, iter_stream_ids
from drkit.sources.redis import streamfile
from storage_backends.local import LocalBackend
from storage_backends.testing.memory import MemoryBackend

SMALL = ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=5)


def payload() -> bytes:
    rng = random.Random(3)
    repeated = rng.randbytes(40_000)
    text = b"".join(b"key:%06d value %d\n" % (i, i * 7) for i in range(6000))
    return rng.randbytes(150_000) + repeated + text + repeated + rng.randbytes(90_000)


@pytest.fixture(params=["memory", "local"])
def stored(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Repository, Snapshot, bytes]:
    """A stream in a memory repository (ranges copied into the read buffer) or a local one (read
    straight into it with preadv)."""
    backend = MemoryBackend() if request.param == "memory" else LocalBackend(tmp_path_factory.mktemp("repo"))
    repo = Repository.init(backend, "pw", RepoConfig(chunker=SMALL, pack_size=64 << 10))
    data = payload()
    return repo, backup_stream(repo, SourceRef("redis", "r"), io.BytesIO(data)), data


@pytest.mark.parametrize("mode", ["direct", "buffered", "not durable"])
def test_restores_identical_bytes(
    stored: tuple[Repository, Snapshot, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """Durable: O_DIRECT (small segments, so many), or buffered where the file system refuses it;
    not durable (a drill's throwaway copy): buffered, no fsync."""
    repo, snap, data = stored
    if mode == "direct" and not takes_o_direct(tmp_path):
        pytest.skip(f"{tmp_path} does not take O_DIRECT")
    durable = mode != "not durable"
    monkeypatch.setattr(run_reads, "MAX_RUN", 20_000)  # several runs per pack
    monkeypatch.setattr(filewriters, "WRITEBACK_STEP", 50_000)  # exercise the early writeback
    hinted: list[tuple[int, int]] = []  # (offset, length) of each writeback hint
    monkeypatch.setattr(
        filewriters,
        "_sync_file_range",
        lambda: lambda fd, offset, length, flags: (hinted.append((offset, length)), 0)[1],
    )
    monkeypatch.setattr(filewriters, "SEGMENT", 16 << 10)
    if mode == "buffered":  # a file system that refuses O_DIRECT
        monkeypatch.setattr(filewriters, "fcntl", RefusingFcntl)
    writers: list[str] = []
    real_open_writer = streamfile.open_writer

    def open_writer(*args: Any, **kwargs: Any) -> FileWriter:
        out = real_open_writer(*args, **kwargs)
        writers.append(type(out).__name__)
        return out

    monkeypatch.setattr(streamfile, "open_writer", open_writer)
    runs = list(streamfile.stream_runs(repo, iter_stream_ids(repo, snap.root)))
    assert len({r[0].loc.pack_id for r in runs}) > 3 and len(runs) > 10
    out = tmp_path / "dump.rdb"
    synced: list[int] = []
    real_fsync = streamfile.os.fsync
    monkeypatch.setattr(streamfile.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    assert streamfile.restore_root(repo, snap.root, out, where="t", durable=durable) == len(data)
    assert out.read_bytes() == data
    assert bool(synced) == durable  # a throwaway copy (a drill's sandbox) skips the fsync
    assert writers == [{"direct": "DirectWriter", "buffered": "PlainWriter", "not durable": "PlainWriter"}[mode]]
    assert [p.name for p in tmp_path.iterdir()] == ["dump.rdb"]
    if mode == "buffered":  # hints in file order, each of at least a step, covering the file's start
        assert len(hinted) >= 3 and hinted[0][0] == 0
        assert all(a + n == b for (a, n), (b, _) in zip(hinted, hinted[1:], strict=False))
        assert all(n >= 50_000 for _, n in hinted)
    else:  # O_DIRECT writes need no hint, and a throwaway copy is not written back early
        assert hinted == []


def test_damaged_pack_leaves_no_file(stored: tuple[Repository, Snapshot, bytes], tmp_path: Path) -> None:
    repo, snap, _ = stored
    backend = repo.backend
    key = sorted(o.key for o in backend.list(DATA_PREFIX))[1]
    with backend.get(key) as f:
        body = bytearray(f.read())
    body[len(body) // 3] ^= 0x40
    backend.put(key, bytes(body))
    with pytest.raises(IntegrityError):
        streamfile.restore_root(repo, snap.root, tmp_path / "dump.rdb", where="t")
    assert list(tmp_path.iterdir()) == []


def test_size_mismatch_is_refused(stored: tuple[Repository, Snapshot, bytes], tmp_path: Path) -> None:
    repo, snap, data = stored
    root = {**snap.root, "size": len(data) + 1}
    with pytest.raises(IntegrityError, match="expected"):
        streamfile.restore_root(repo, root, tmp_path / "dump.rdb", where="t")
    assert list(tmp_path.iterdir()) == []


def test_a_blob_repeated_back_to_back_is_read_once_and_written_at_each_offset(tmp_path: Path) -> None:
    """Zeros cut into equal max-size chunks: one blob, many offsets in a row."""
    repo = Repository.init(MemoryBackend(), "pw", RepoConfig(chunker=SMALL, pack_size=64 << 10))
    data = random.Random(4).randbytes(30_000) + bytes(200_000) + b"tail" * 1000
    snap = backup_stream(repo, SourceRef("redis", "r"), io.BytesIO(data))
    runs = list(streamfile.stream_runs(repo, iter_stream_ids(repo, snap.root)))
    repeated = [b for run in runs for b in run if len(b.targets) > 1]
    assert repeated and max(len(b.targets) for b in repeated) >= 10
    assert streamfile.restore_root(repo, snap.root, tmp_path / "dump.rdb", where="t") == len(data)
    assert (tmp_path / "dump.rdb").read_bytes() == data
