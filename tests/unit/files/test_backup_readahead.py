"""Files read ahead of the walk by reader threads (sources/files/readahead.py): the snapshot, the
warnings and the callbacks are those of the walk reading every file itself; the bytes read ahead stay
under the budget; the readers follow the CPUs the process may use."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from treediff import rsync_diff

from drkit.repository.repo import Repository
from drkit.repository.snapshots import Snapshot
from drkit.repository.writer import BlobWriter
from drkit.sources.files import Archiver, Selection, filereads, readahead
from drkit.sources.files.diff import walk
from drkit.sources.files.ops import ROOT_TYPE, SOURCE_KIND, restore_files
from drkit.sources.files.walker import Where

GROWS_BEFORE = "grows-before"  # grows between its fstat and its read: streamed from the open descriptor
GROWS_AFTER = "grows-after"  # grows after it is read: "changed while being read"
GROWN = (GROWS_BEFORE, GROWS_AFTER)


def _make_tree(root: Path) -> Path:
    """Many small files in nested directories, duplicates, a large (streamed) file, hard links (one
    pair whose first name in walk order is deeper down), a symlink, a fifo, and the odd files above."""
    rng = random.Random(25)
    src = root / "src"
    blobs = [rng.randbytes(rng.choice((0, 1, 700, 9_000, 40_000, 150_000, 400_000))) for _ in range(40)]
    for d in range(4):
        for s in range(3):
            sub = src / f"d{d}" / f"s{s}"
            sub.mkdir(parents=True)
            for f in range(25):
                (sub / f"f{f:02}").write_bytes(rng.choice(blobs) + bytes([d, s, f]) * rng.randint(0, 3))
    (src / "zz-big").write_bytes(rng.randbytes(filereads.SMALL_FILE + 300_000))  # last: a reader streams it
    os.link(src / "d0" / "s1" / "f03", src / "d3" / "hard")
    os.link(src / "d2" / "s0" / "f07", src / "z-hard")  # first met under d2, again at the top, last
    (src / "link").symlink_to("d0/s0/f00")
    os.mkfifo(src / "fifo")
    for name in ("gone", "secret", *GROWN):
        (src / "d1" / name).write_bytes(rng.randbytes(20_000 + len(name)))
    return src


@pytest.fixture
def odd_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """As root chmod 000 reads anyway, so the failures come from the open: "gone" vanished after its
    lstat (ENOENT), "secret" is unreadable (EACCES). The two growing files get 4 more bytes, before
    or after their read; whichever thread reads them."""
    real_open, real_read_all = filereads.open_for_reading, filereads.read_all

    def failing_open(where: Where) -> int:
        if where.path.endswith("/gone"):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), where.path)
        if where.path.endswith("/secret"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), where.path)
        return real_open(where)

    def growing_read_all(fd: int, size: int) -> bytes:
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        if name == GROWS_BEFORE:
            with open(f"/proc/self/fd/{fd}", "ab") as f:
                f.write(b"more")
        data = real_read_all(fd, size)
        if name == GROWS_AFTER:
            with open(f"/proc/self/fd/{fd}", "ab") as f:
                f.write(b"more")
        return data

    monkeypatch.setattr(filereads, "open_for_reading", failing_open)
    monkeypatch.setattr(filereads, "read_all", growing_read_all)


def _shrink_back(src: Path, sizes: dict[str, tuple[int, int]]) -> None:
    for name, (size, mtime) in sizes.items():
        os.truncate(src / "d1" / name, size)
        os.utime(src / "d1" / name, ns=(mtime, mtime))


def _backup(  # noqa: PLR0913
    repo: Repository,
    src: Path,
    readers: int,
    monkeypatch: pytest.MonkeyPatch,
    parent: str | None = None,
    hold: bool = False,
) -> dict[str, Any]:
    """Walk ``src`` with that many readers (0: the walk reads every file itself), against ``parent``;
    ``hold``: the walk waits, after its first file, until a reader has opened one."""
    reads: list[tuple[str, str]] = []
    opened: dict[str, str] = {}  # file -> the thread that opened it
    real = filereads.open_for_reading

    def noting_open(where: Where) -> int:
        opened[os.path.relpath(where.path, src)] = threading.current_thread().name.split("_")[0]
        return real(where)

    monkeypatch.setattr(filereads, "open_for_reading", noting_open)

    def on_read(path: str, how: str) -> None:
        if hold and not reads:  # hold the walk until a reader opened a file: the big one, handed over first
            deadline = time.monotonic() + 60
            while "drkit-read" not in opened.values() and time.monotonic() < deadline:
                time.sleep(0.01)
        reads.append((path, how))

    with BlobWriter(repo=repo) as writer:
        archiver = Archiver(repo=repo, writer=writer, readers=readers, on_read=on_read)
        try:
            tree = archiver.root([str(src)], parent)
        finally:
            archiver.close()
            monkeypatch.setattr(filereads, "open_for_reading", real)
        writer.flush()
    snap = Snapshot(source_kind=SOURCE_KIND, source_name=str(src), root={"type": ROOT_TYPE, "tree": tree})
    listing = []
    for path, node in walk(repo, tree):
        fields = dataclasses.asdict(node)
        del fields["subtree"]  # the listing holds what the subtrees hold; d1's differs in the ctimes below
        if node.name in GROWN:
            del fields["ctime_ns"], fields["mtime_ns"]  # grown in each run: the times of that run's growth
        listing.append((path, fields))
    return {
        "snap": snap,
        "tree": tree,
        "warnings": archiver.warnings,
        "stats": archiver.stats,
        "reads": reads,
        "listing": listing,
        "opened": opened,
    }


def test_read_ahead_makes_the_snapshot_a_serial_walk_makes(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, odd_files: None
) -> None:
    src = _make_tree(tmp_path)
    sizes = {n: (os.stat(src / "d1" / n).st_size, os.stat(src / "d1" / n).st_mtime_ns) for n in GROWN}
    serial = _backup(repo, src, 0, monkeypatch)
    _shrink_back(src, sizes)
    ahead = _backup(repo, src, 3, monkeypatch, hold=True)
    _shrink_back(src, sizes)
    assert set(serial["opened"].values()) == {"MainThread"}
    assert ahead["opened"]["zz-big"] == "drkit-read"  # streamed by a reader
    assert ahead["opened"]["d0/s1/f03"] == ahead["opened"]["d2/s0/f07"] == "MainThread"  # hard links: the walk
    assert sorted(ahead["opened"]) == sorted(serial["opened"])
    assert ahead["listing"] == serial["listing"]
    assert ahead["warnings"] == serial["warnings"]  # same words, same order
    assert [w.split(": ")[0].rsplit("/", 1)[1] for w in ahead["warnings"]] == [
        "gone",
        GROWS_AFTER,
        GROWS_BEFORE,
        "secret",
    ]
    assert ahead["reads"] == serial["reads"]
    assert ahead["stats"] == serial["stats"]
    assert ahead["stats"].files_unchanged == 2  # the second names of the two hard links
    outs = []
    for i, run in enumerate((serial, ahead)):
        out = tmp_path / f"out{i}"
        restore_files(repo, run["snap"], str(out), Selection())
        outs.append(out / "src")
    grown = [f"--exclude=/d1/{name}" for name in GROWN]  # their mtimes: when they grew in each run
    assert rsync_diff(outs[0], outs[1], *grown) == []
    skipped = [f"--exclude=/d1/{name}" for name in ("gone", "secret")] + ["--exclude=/fifo"]
    assert rsync_diff(src, outs[1], *grown, *skipped) == []  # fifo: not restored by default
    for name in GROWN:
        restored = [(out / "d1" / name).read_bytes() for out in outs]
        assert restored == [(src / "d1" / name).read_bytes() + (b"more" if name == GROWS_BEFORE else b"")] * 2


def test_an_unchanged_rerun_opens_only_the_changed_files(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _make_tree(tmp_path)
    first = _backup(repo, src, 0, monkeypatch)
    changed = [src / "d2" / "s2" / "f11", src / "d0" / "s0" / "f00"]
    for path in changed:
        path.write_bytes(path.read_bytes() + b"!")
    opened: list[str] = []
    real_open = filereads.open_for_reading
    monkeypatch.setattr(filereads, "open_for_reading", lambda w: opened.append(w.path) or real_open(w))
    runs = [_backup(repo, src, readers, monkeypatch, first["tree"]) for readers in (0, 3)]
    assert sorted(opened) == sorted([str(p) for p in changed] * 2)
    assert runs[0]["listing"] == runs[1]["listing"] and runs[0]["reads"] == runs[1]["reads"]
    assert runs[1]["reads"] == [(str(p), "changed") for p in reversed(changed)]


def test_the_bytes_read_ahead_stay_under_the_budget(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget = 300_000
    monkeypatch.setattr(readahead, "read_ahead_budget", lambda readers, params: budget)
    src = tmp_path / "src"
    src.mkdir()
    rng = random.Random(7)
    sizes = [rng.randint(10_000, 120_000) for _ in range(150)]
    for i, size in enumerate(sizes):
        (src / f"f{i:03}").write_bytes(rng.randbytes(size))
    with BlobWriter(repo=repo) as writer:
        archiver = Archiver(repo=repo, writer=writer, readers=4)
        try:
            archiver.root([str(src)], None)
            reader = archiver._reader
            assert reader is not None
            assert reader.budget == budget and reader.held == 0  # every reservation given back
            assert budget - max(sizes) - 1 < reader.peak <= budget  # it filled up, and no further
        finally:
            archiver.close()
        writer.flush()
    assert archiver.warnings == [] and archiver.stats.files_read == 150


def _readers_under(cpus: set[int]) -> dict[str, Any]:
    code = f"""
import json, os
os.sched_setaffinity(0, {cpus!r})
from drkit.core.concurrency import usable_cpus
from drkit.repository.format import RepoConfig
from drkit.repository.repo import Repository
from drkit.repository.writer import BlobWriter
from drkit.sources.files import Archiver
from storage_backends.testing.memory import MemoryBackend
repo = Repository.init(MemoryBackend(), "pw", RepoConfig())
with BlobWriter(repo=repo) as writer:
    archiver = Archiver(repo=repo, writer=writer)
    archiver.close()
print(json.dumps({{"cpus": usable_cpus(), "readers": archiver.readers}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return dict(json.loads(out.stdout))


def test_the_readers_follow_the_cpus_the_process_may_use() -> None:
    assert _readers_under({0}) == {"cpus": 1, "readers": 0}  # one CPU: the walk reads every file itself
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        pytest.skip("needs two CPUs")
    two = _readers_under(set(available[:2]))
    assert two["readers"] == (two["cpus"] if two["cpus"] > 1 else 0)  # a cgroup quota may lower it
    assert two["cpus"] <= 2


def test_a_file_no_reader_has_started_is_read_by_the_walk(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one reader is held on a file handed over first but met last; the walk, meeting a large and a
    small file it handed over too, reads them itself rather than wait (and finishes: no hang)."""
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "a").write_bytes(os.urandom(1000))  # the next entry: never handed over
    (src / "d" / "big").write_bytes(os.urandom(filereads.SMALL_FILE + 5000))
    (src / "d" / "small").write_bytes(os.urandom(3000))
    (src / "zz-held").write_bytes(os.urandom(2000))
    release = threading.Event()
    real = filereads.read_small

    def held(where: Where, *args: Any) -> filereads.FileRead:
        if where.path.endswith("zz-held"):
            assert release.wait(60)
        return real(where, *args)

    monkeypatch.setattr(filereads, "read_small", held)
    reads: list[str] = []

    def on_read(path: str, how: str) -> None:
        reads.append(os.path.basename(path))
        if len(reads) == 3:
            release.set()

    done: list[str] = []
    with BlobWriter(repo=repo) as writer:
        archiver = Archiver(repo=repo, writer=writer, readers=1, on_read=on_read)
        walk_thread = threading.Thread(target=lambda: done.append(archiver.root([str(src)], None)), daemon=True)
        walk_thread.start()
        walk_thread.join(120)
        assert not walk_thread.is_alive(), "the walk hung"
        archiver.close()
        writer.flush()
    assert done and reads == ["a", "big", "small", "zz-held"] and archiver.warnings == []
    restore_files(
        repo,
        Snapshot(source_kind=SOURCE_KIND, source_name=str(src), root={"type": ROOT_TYPE, "tree": done[0]}),
        str(tmp_path / "out"),
        Selection(),
    )
    assert rsync_diff(src, tmp_path / "out" / "src") == []


def test_a_walk_failing_while_a_reader_streams_stops_the_reader(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer fails on a large file's first chunk while its reader waits for room in its full queue:
    ``close`` stops that reader rather than wait for it forever."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_bytes(os.urandom(1000))  # the walk's first file, read by the walk
    (src / "big").write_bytes(os.urandom(filereads.SMALL_FILE + filereads.STREAM_QUEUE))  # fills its queue
    started = threading.Event()
    real = filereads.read_large

    def noting(*args: Any) -> filereads.FileRead:
        started.set()
        return real(*args)

    monkeypatch.setattr(filereads, "read_large", noting)
    errors: list[BaseException] = []
    with BlobWriter(repo=repo) as writer:
        real_add = writer.add_data

        def failing_add(chunk: Any, blob_id: bytes | None = None) -> bytes:
            if len(chunk) > 1000:  # big's
                raise RuntimeError("store failed")
            return real_add(chunk, blob_id)

        archiver = Archiver(repo=repo, writer=writer, readers=1, on_read=lambda p, how: started.wait(60))
        monkeypatch.setattr(writer, "add_data", failing_add)

        def run() -> None:
            try:
                archiver.root([str(src)], None)
            except RuntimeError as exc:
                errors.append(exc)
            finally:
                archiver.close()

        walk_thread = threading.Thread(target=run, daemon=True)
        walk_thread.start()
        walk_thread.join(120)
        assert not walk_thread.is_alive(), "close waited for the reader forever"
    assert started.is_set() and len(errors) == 1
