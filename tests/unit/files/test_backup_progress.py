"""A files backup's progress knows its total: the scan ahead of it counts what the archiver then goes
through (same excludes, markers, size limit), and the progress adds up to that total on a first run and on
a re-run that reads nothing (unchanged files and hard links count by their size)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from drkit.repository.repo import Repository
from drkit.sources.files import BackupOptions, Excludes
from drkit.sources.files.markers import CACHEDIR, CACHEDIR_SIGNATURE, Marker
from drkit.sources.files.ops import BackupRequest, backup_files
from drkit.sources.files.scan import scan


def _tree(root: Path) -> Path:
    src = root / "src"
    for d in ("a/b", "cache", "skip", "tmp"):
        (src / d).mkdir(parents=True)
    for i in range(20):
        (src / "a" / f"f{i}").write_bytes(os.urandom(1000 * i))
    (src / "a/b/big").write_bytes(os.urandom(300_000))
    os.link(src / "a/f3", src / "a/b/hard")
    (src / "a/link").symlink_to("f1")
    (src / "cache/CACHEDIR.TAG").write_bytes(CACHEDIR_SIGNATURE)
    (src / "cache/x").write_bytes(os.urandom(5000))
    (src / "skip/.nobackup").touch()
    (src / "skip/y").write_bytes(os.urandom(7000))
    (src / "tmp/z.tmp").write_bytes(os.urandom(9000))
    return src


def test_scan_total_equals_what_the_backup_goes_through(repo: Repository, tmp_path: Path) -> None:
    src = _tree(tmp_path)
    options = BackupOptions(excludes=Excludes(("*.tmp",)), markers=(CACHEDIR, Marker(".nobackup")), larger_than=200_000)
    totals = scan([str(src)], options)
    for run in range(2):
        seen: list[int] = []
        announced: list[int] = []
        done = threading.Event()

        def on_total(n: int, announced: list[int] = announced, done: threading.Event = done) -> None:
            announced.append(n)
            done.set()

        result = backup_files(
            repo, BackupRequest(paths=[str(src)], options=options), progress=seen.append, on_total=on_total
        )
        assert done.wait(60)
        st = result.snapshot.stats
        assert announced == [totals.bytes] == [st["total_bytes"]], run
        assert totals.files == st["files_new"] + st["files_changed"] + st["files_unchanged"]
        assert sum(seen) == totals.bytes, run
        if run == 1:
            assert st["bytes_read"] == 0  # the second run read nothing, yet its progress reached the total
    assert totals.files == 20 + 1 + 2  # a/f0..f19, the hard link, the two markers (big is over the limit)


def test_restore_progress_reaches_the_announced_total(repo: Repository, tmp_path: Path) -> None:
    from files_fixtures import make_tree

    from drkit.sources.files import Selection
    from drkit.sources.files.ops import restore_files

    src = make_tree(tmp_path, sparse_size=2 << 20)
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    inodes: dict[int, int] = {}  # the oracle: each regular file's size once per inode, from lstat
    for p in src.rglob("*"):
        st = os.lstat(p)
        if p.is_file() and not p.is_symlink():
            inodes[st.st_ino] = st.st_size
    for include, expected in (((), sum(inodes.values())), (("src/docs",), None)):
        seen: list[int] = []
        totals: list[int] = []
        out = tmp_path / f"out{len(include)}"
        restore_files(repo, snap, str(out), Selection(include), progress=seen.append, on_total=totals.append)
        written = {
            os.lstat(p).st_ino: os.lstat(p).st_size for p in out.rglob("*") if p.is_file() and not p.is_symlink()
        }
        assert totals == [sum(seen)] == [sum(written.values())]
        if expected is not None:
            assert totals == [expected]


def test_check_read_data_progress_reaches_the_pack_total(repo: Repository, tmp_path: Path) -> None:
    from drkit.repository.check import check_repository

    src = _tree(tmp_path)
    (src / "more").write_bytes(os.urandom(3 << 20))  # several 1 MiB packs
    backup_files(repo, BackupRequest(paths=[str(src)]))
    seen: list[int] = []
    totals: list[int] = []
    report = check_repository(repo, read_data=True, progress=seen.append, on_total=totals.append)
    assert report.ok and report.packs_checked == len(repo.index.pack_sizes) > 1
    stored = sum(len(repo.backend.get(f"data/{p[:2]}/{p}").read()) for p in repo.index.pack_sizes)
    assert totals == [sum(seen)] == [stored]
    seen.clear()
    totals.clear()
    # "50%": always some but not all of 2+ packs ("1/2" groups packs by id, and with a few random ids the
    # group held none or all of them about one run in eight)
    check_repository(repo, read_data=True, subset="50%", progress=seen.append, on_total=totals.append)
    assert totals == [sum(seen)] and 0 < totals[0] < stored
