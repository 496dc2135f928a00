"""The history id on disk (``drkit.sources.redis.history_dir``): a copy of an AOF directory starts a new
history, the same directory keeps its own, and a restore and a reader of the directory never interleave.
(Real servers: tests/integration/test_redis_copied_aof_dir.py, test_redis_history_ends.py.)"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_redis_aof_tail import T0, aof_dir, at, cmd, new_repo, ts

from drkit.core import clock
from drkit.sources.redis import history_dir, ops
from drkit.sources.redis.aof_round import archive_once
from drkit.sources.redis.backup import backup_aof_dir
from drkit.sources.redis.history_dir import HISTORY_FILE, RESTORE_MARKER, RestoreInProgress, history_id, reading
from drkit.sources.redis.pitr import iso

WAIT = 60.0  # generous: the machine is shared


@pytest.fixture(autouse=True)
def _real_clock_after() -> object:
    yield
    clock.set_clock(None)


def _lines(d: Path) -> list[str]:
    return (d / HISTORY_FILE).read_text().splitlines()


def test_the_id_file_records_where_it_was_written_and_is_kept_there(tmp_path: Path) -> None:
    d = aof_dir(tmp_path)
    first = history_id(d)
    st = (d / HISTORY_FILE).stat()
    assert _lines(d) == [first, f"where {_place(d / HISTORY_FILE)}"]
    assert _lines(d)[1].startswith(f"where dev={st.st_dev} ino={st.st_ino}")
    assert history_id(d) == first and (d / HISTORY_FILE).stat().st_ino == st.st_ino  # not rewritten
    assert [p.name for p in d.iterdir() if p.name.startswith(".")] == []


def test_a_copied_directory_starts_a_new_history_and_says_why(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Before, a copy (``cp -a``, ``rsync``: a new id file) kept the id: two servers, one history."""
    (tmp_path / "a").mkdir()
    d = aof_dir(tmp_path / "a")
    original = history_id(d)
    copy = Path(shutil.copytree(d, tmp_path / "b" / "appendonlydir"))
    assert _lines(copy)[0] == original  # the copy carries the id, not its place
    with caplog.at_level(logging.WARNING, logger="drkit.redis"):
        new = history_id(copy)
    assert new not in (None, original)
    said = [r.getMessage() for r in caplog.records if "another copy" in r.getMessage()]
    assert len(said) == 1 and f"history {new} begins here, never stitched to history {original}" in said[0]
    assert history_id(copy) == new and history_id(d) == original  # each copy keeps its own from now on


def _place(path: Path) -> str:
    fd = os.open(path, os.O_RDONLY)
    try:
        return history_dir._place(fd)
    finally:
        os.close(fd)


def _rewritten(d: Path, field: str, change: int) -> None:
    """The id file rewritten in place (its inode and birth time kept), ``field`` of its place changed."""
    found, where = _lines(d)
    value = int(where.split(f"{field}=")[1].split()[0])
    with open(d / HISTORY_FILE, "r+b") as fh:
        fh.truncate(0)
        fh.write(f"{found}\n{where.replace(f'{field}={value}', f'{field}={value + change}')}\n".encode())


def _renumbered(d: Path) -> None:
    """The disk holding ``d`` comes back under another device number (a reboot that numbers disks
    differently, a volume attached to another node, a btrfs/ZFS/NFS/overlay mount's anonymous device):
    the id file, its inode and birth kept, names the device it was written on."""
    _rewritten(d, "dev", 1)


def test_a_copy_whose_inode_happens_to_be_the_original_s_starts_a_new_history(tmp_path: Path) -> None:
    """A copy on another file system may get the very inode number the original has (two fresh file
    systems filled alike); its birth time is the copy's own (``cp``, ``rsync``, ``tar`` cannot set it).
    Simulated: the birth time the file records changed. Before, the inode alone (or, on main, the
    device and inode) decided, and such a copy kept the original's history."""
    d = aof_dir(tmp_path)
    first = history_id(d)
    if "born=" not in _lines(d)[1]:
        pytest.skip("this file system keeps no birth time")
    _rewritten(d, "born", -1)
    assert history_id(d) not in (None, first)
    assert history_id(d) == _lines(d)[0]  # kept from now on


def test_a_disk_back_under_another_device_number_keeps_its_history_and_every_point_restores(
    tmp_path: Path,
) -> None:
    """Device numbers are not stable for one file system (disk enumeration order, a volume re-attached on
    another node, anonymous devices of btrfs, ZFS, NFS, overlay): the inode alone says whether the id
    file is the one written there. Before, each such reboot or reschedule started a new history, the
    archiver archived the group again under it, and every point of that group before the reboot was
    refused (exit 2, "2 different Redis servers") unless ``--history`` was given."""
    repo = new_repo()
    d = aof_dir(tmp_path)
    data = b"".join(ts(s) + cmd("SET", f"k{s}", "v") for s in range(T0, T0 + 4))
    (d / "a.1.incr.aof").write_bytes(data)
    at(T0 + 5)
    first = archive_once(repo, d, "redis")[0]["history"]
    _renumbered(d)
    data += b"".join(ts(s) + cmd("SET", f"k{s}", "v") for s in range(T0 + 6, T0 + 9))
    (d / "a.1.incr.aof").write_bytes(data)
    at(T0 + 10)
    assert {doc["history"] for doc in archive_once(repo, d, "redis")} == {first}
    for point, target in ((T0 + 3, "before"), (T0 + 8, "after")):
        opts = ops.RestoreOptions(target_dir=tmp_path / target, point_in_time=iso(point))
        ops.restore_redis(repo, None, opts)
        assert (tmp_path / target / "appendonlydir" / "a.1.incr.aof").read_bytes() == data.split(ts(point))[0]


def test_an_older_drkit_s_id_file_is_kept_and_its_place_added(tmp_path: Path) -> None:
    d = aof_dir(tmp_path)
    (d / HISTORY_FILE).write_text("0123456789ab\n")
    assert history_id(d) == "0123456789ab"
    assert _lines(d) == ["0123456789ab", f"where {_place(d / HISTORY_FILE)}"]


def _blocked_on(path: Path) -> bool:
    """/proc/locks shows a request waiting for a lock on ``path`` (its lines: ``N: -> FLOCK ... MAJ:MIN:INODE``)."""
    ino = f":{path.stat().st_ino} "
    return any("->" in line and ino in line for line in Path("/proc/locks").read_text().splitlines())


def _until(cond: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_restore_waits_for_a_round_reading_the_directory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A round holds the directory from reading the id until its pieces are stored: a restore begun
    meanwhile waits (it neither marks the directory nor removes the id), then writes a new id. Before,
    nothing held it: a round that read the id before a restore began read the restored files after,
    recording them under the replaced server's id."""
    d = aof_dir(tmp_path)
    in_round, release = threading.Event(), threading.Event()
    seen: list[object] = []

    def a_round() -> None:
        with reading(d) as found:
            seen.append(found)
            in_round.set()
            assert release.wait(WAIT)
            seen.append(_lines(d)[0])

    def a_restore() -> None:
        with history_dir.restoring(d):
            seen.append("restoring")

    archiver = threading.Thread(target=a_round)
    archiver.start()
    assert in_round.wait(WAIT)
    restore = threading.Thread(target=a_restore)
    with caplog.at_level(logging.WARNING, logger="drkit.redis"):
        restore.start()
        _until(lambda: _blocked_on(d))  # the restore waits for the round's lock
    assert f"{d}: waiting for an AOF archiver round or backup reading it to end" in caplog.messages
    assert not (d / RESTORE_MARKER).exists() and _lines(d)[0] == seen[0]
    release.set()
    archiver.join(WAIT)
    restore.join(WAIT)
    assert seen == [seen[0], seen[0], "restoring"]
    assert history_id(d) not in (None, seen[0]) and not (d / RESTORE_MARKER).exists()


def test_a_restore_that_stopped_half_way_keeps_the_directory_from_being_archived(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The marker a restore left (it stopped with files written) stops every round and backup: a round
    is refused, the archive loop counts none of them a success (its freshness stays, so
    ``DrkitArchiveStale`` fires; ``on_held`` hears each: the metrics' ``up`` is 0) and says so at the first
    and once a minute after; ``aof-archive --once`` and ``backup --aof-dir`` exit 1. Before, each round
    returned nothing as if the server were idle: the freshness advanced every round and one warning
    line was all that was said while archiving had stopped for good. A restore that completes there
    removes the marker, and rounds go on under the restore's new id."""
    d = aof_dir(tmp_path)
    old = history_id(d)
    with pytest.raises(KeyboardInterrupt), history_dir.restoring(d):
        raise KeyboardInterrupt  # files written (the AOF files are there): the marker stays
    assert (d / RESTORE_MARKER).exists() and not (d / HISTORY_FILE).exists()
    repo = new_repo()
    (d / "a.1.incr.aof").write_bytes(ts(T0) + cmd("SET", "k", "v"))
    at(T0 + 4)
    covered: list[float] = []
    held: list[int] = []
    stop = threading.Event()

    def on_held() -> None:
        held.append(1)
        at(T0 + 4 + 30 * len(held))  # the rounds half a minute apart: said at the first, third, fifth
        if len(held) == 5:
            stop.set()

    follow = ops.Follow(interval=0.0, stop=stop, on_round=lambda when, _docs: covered.append(when), on_held=on_held)
    with caplog.at_level(logging.WARNING, logger="drkit.redis"):
        assert ops.aof_archive(repo, d, "redis", follow, report=lambda _doc: None) == 0
    assert covered == [] and len(held) == 5
    said = [r.getMessage() for r in caplog.records if "a restore is writing" in r.getMessage()]
    assert len(said) == 3 and RESTORE_MARKER in said[0] and "nothing archived until it is done" in said[0]
    for run in (
        lambda: ops.aof_archive(repo, d, "redis", ops.Follow(interval=0.0, once=True), report=lambda _doc: None),
        lambda: backup_aof_dir(repo, d, "redis", []),
    ):
        with pytest.raises(RestoreInProgress) as err:
            run()
        assert err.value.exit_code == 1 and RESTORE_MARKER in str(err.value.hint)
    assert not (d / HISTORY_FILE).exists()  # no id written for a half-restored directory
    with history_dir.restoring(d):
        pass
    docs = archive_once(repo, d, "redis")
    assert docs and {doc["history"] for doc in docs} == {_lines(d)[0]} and _lines(d)[0] != old


def test_a_failed_restore_that_left_nothing_leaves_no_marker(tmp_path: Path) -> None:
    d = tmp_path / "appendonlydir"
    with pytest.raises(RuntimeError), history_dir.restoring(d):
        raise RuntimeError("a piece gone: the restore removed what it wrote")
    assert list(d.iterdir()) == []
    assert os.path.isdir(d)


def test_a_point_in_time_restore_is_durable_before_its_new_id_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files a point-in-time restore writes (and ``redis-check-aof`` cuts in place) are fsynced before
    the new id goes in and the marker goes: before, they were never fsynced, and a crash after the restore
    could leave a torn AOF that an archiver would take for the restored server's history."""
    repo = new_repo()
    (tmp_path / "source").mkdir()
    d = aof_dir(tmp_path / "source")
    (d / "a.1.incr.aof").write_bytes(b"".join(ts(s) + cmd("SET", f"k{s}", "v") for s in range(T0, T0 + 4)))
    at(T0 + 6)
    archive_once(repo, d, "redis")
    synced: list[str] = []
    fsync = os.fsync

    def recording(fd: int) -> None:
        synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    opts = ops.RestoreOptions(target_dir=tmp_path / "t", point_in_time=iso(T0 + 3))
    ops.restore_redis(repo, None, opts)
    monkeypatch.undo()
    new_id = max(i for i, name in enumerate(synced) if name.startswith(f".{HISTORY_FILE}."))
    for name in ("a.1.base.aof", "a.1.incr.aof", "appendonly.aof.manifest"):
        assert name in synced[:new_id], (name, synced)
    assert (tmp_path / "t" / "appendonlydir" / "a.1.incr.aof").read_bytes().endswith(cmd("SET", f"k{T0 + 2}", "v"))


def test_a_copy_drkit_cannot_write_to_records_no_id_never_the_original_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a").mkdir()
    d = aof_dir(tmp_path / "a")
    original = history_id(d)
    copy = Path(shutil.copytree(d, tmp_path / "b" / "appendonlydir"))

    def refuse(*_args: object) -> Path:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(history_dir, "_new_file", refuse)
    with caplog.at_level(logging.WARNING, logger="drkit.redis"):
        assert history_id(copy) is None and history_id(copy) is None
    assert _lines(copy)[0] == original  # left as found: only its pieces record no id
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "record no history id" in said[0] and "Permission denied" in said[0], said
