"""Back up a real tree and restore it through the ops layer (memory backend): content and metadata
survive, unchanged files are not read again, a 1 % change uploads only the changed chunks."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from files_fixtures import MTIME_NS, make_tree
from refusing_fs import RefusingFcntl, takes_o_direct

from drkit.core import filewriters
from drkit.core.errors import PartialBackup, StorageError
from drkit.core.filewriters import FileWriter
from drkit.repository.check import check_repository
from drkit.repository.repo import Repository
from drkit.sources.files import BackupOptions, Excludes, Policy, Selection, procpool
from drkit.sources.files.ops import BackupRequest, backup_files, raise_if_partial, restore_files
from drkit.sources.files.walker import Where


def _meta(path: Path) -> tuple[object, ...]:
    st = os.lstat(path)
    mtime = st.st_mtime_ns if not stat.S_ISDIR(st.st_mode) else st.st_mtime_ns
    return (
        stat.S_IFMT(st.st_mode),
        stat.S_IMODE(st.st_mode),
        st.st_uid,
        st.st_gid,
        mtime,
        st.st_size if stat.S_ISREG(st.st_mode) else None,
    )


def assert_same_tree(a: Path, b: Path) -> None:
    names_a = sorted(p.relative_to(a) for p in a.rglob("*"))
    assert names_a == sorted(p.relative_to(b) for p in b.rglob("*"))
    for rel in names_a:
        pa, pb = a / rel, b / rel
        assert _meta(pa) == _meta(pb), rel
        if pa.is_symlink():
            assert os.readlink(pa) == os.readlink(pb)
        elif pa.is_file():
            assert pa.read_bytes() == pb.read_bytes(), rel
    assert _meta(a) == _meta(b)


def test_round_trip_preserves_content_and_metadata(repo: Repository, tmp_path: Path) -> None:
    src = make_tree(tmp_path)
    result = backup_files(repo, BackupRequest(paths=[str(src)]))
    assert result.warnings == []
    st = result.snapshot.stats
    assert (st["files_new"], st["files_unchanged"], st["dirs"]) == (5, 1, 5)  # "hard": a second name
    restore_files(repo, result.snapshot, str(tmp_path / "out"), Selection())
    out = tmp_path / "out" / "src"
    assert_same_tree(src, out)
    assert os.stat(out / "hard").st_ino == os.stat(out / "docs" / "a.txt").st_ino  # still a hard link
    assert os.stat(out / "hard").st_nlink == 2
    assert os.stat(out / "sparse").st_blocks * 512 < 4 << 20  # holes stayed holes
    assert os.lstat(out / "empty").st_mtime_ns == MTIME_NS
    assert (out / "empty").is_dir() and not any((out / "empty").iterdir())
    assert check_repository(repo).ok


def test_unchanged_rerun_reads_no_file_content(repo: Repository, tmp_path: Path) -> None:
    src = make_tree(tmp_path)
    first = backup_files(repo, BackupRequest(paths=[str(src)]))
    again = backup_files(repo, BackupRequest(paths=[str(src)]))
    st = again.snapshot.stats
    assert again.snapshot.parent == first.snapshot.id
    assert (st["files_read"], st["bytes_read"], st["new_bytes"], st["files_new"]) == (0, 0, 0, 0)
    assert st["files_unchanged"] == first.snapshot.stats["files_new"] + first.snapshot.stats["files_unchanged"]
    assert again.snapshot.root["tree"] == first.snapshot.root["tree"]


def test_one_percent_change_uploads_only_changed_chunks(repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    size = 8 << 20
    data = bytearray(os.urandom(size))
    (src / "big.bin").write_bytes(data)
    for i in range(20):
        (src / f"small{i}.txt").write_text(f"file {i}\n" * 100)
    backup_files(repo, BackupRequest(paths=[str(src)]))
    changed = size // 100
    data[size // 2 : size // 2 + changed] = os.urandom(changed)
    (src / "big.bin").write_bytes(data)
    second = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot.stats
    assert (second["files_changed"], second["files_unchanged"], second["files_read"]) == (1, 20, 1)
    max_chunk = repo.config.chunker.max_size
    assert changed <= second["new_bytes"] <= changed + 2 * max_chunk + 4096, second


def test_include_and_exclude_on_restore(repo: Repository, tmp_path: Path) -> None:
    src = make_tree(tmp_path, sparse_size=1 << 20)
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    restore_files(repo, snap, str(tmp_path / "out"), Selection(("src/docs",), Excludes(("*.bin",))))
    found = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*"))
    assert found == ["src", "src/docs", "src/docs/a.txt", "src/docs/deep", "src/docs/deep/er"]


def test_backup_excludes_and_one_file_system(repo: Repository, tmp_path: Path) -> None:
    src = make_tree(tmp_path, sparse_size=1 << 20)
    options = BackupOptions(excludes=Excludes(("*.bin", str(src / "docs" / "a.txt"))), one_file_system=True)
    snap = backup_files(repo, BackupRequest(paths=[str(src)], options=options)).snapshot
    restore_files(repo, snap, str(tmp_path / "out"), Selection())
    assert not (tmp_path / "out/src/docs/deep/er/b.bin").exists()
    assert not (tmp_path / "out/src/docs/a.txt").exists() and (tmp_path / "out/src/hard").exists()


def test_vanished_and_changing_files_are_warnings(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drkit.sources.files import filereads as backup_mod

    src = tmp_path / "src"
    src.mkdir()
    for name in ("gone", "grows", "ok"):
        (src / name).write_text(name)
    real_read_all = backup_mod.read_all

    def read_and_touch(fd: int, size: int) -> bytes:
        data = real_read_all(fd, size)
        if size == len("grows"):
            with open(src / "grows", "a") as f:
                f.write("more")
        return data

    monkeypatch.setattr(backup_mod, "read_all", read_and_touch)
    original_open = backup_mod.open_for_reading

    def vanish_first(where: Where) -> int:  # removed after its lstat, before it is opened (by the walk or a reader)
        if where.path.endswith("gone"):
            os.unlink(where.path)
        return original_open(where)

    monkeypatch.setattr(backup_mod, "open_for_reading", vanish_first)
    result = backup_files(repo, BackupRequest(paths=[str(src)]))
    assert len(result.warnings) == 2, result.warnings
    assert any("gone" in w and "No such file" in w for w in result.warnings)
    assert any("grows" in w and "changed while being read" in w for w in result.warnings)
    assert result.snapshot.id  # written anyway
    with pytest.raises(PartialBackup) as info:
        raise_if_partial(result)
    assert info.value.exit_code == 3


def test_large_files_are_written_directly_and_small_ones_buffered(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files of DIRECT_FROM bytes and more go through O_DIRECT (core/filewriters), holes included; a
    file system refusing O_DIRECT gets buffered writes, same bytes, and no stray file."""
    from drkit.sources.files import fetch

    if not takes_o_direct(tmp_path):
        pytest.skip(f"{tmp_path} does not take O_DIRECT")
    monkeypatch.setenv(procpool.ENV, "0")  # the writers are spied on in this process: the thread path
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(3 << 20) + bytes(4 << 20) + os.urandom(12345))
    (src / "small.txt").write_bytes(b"small\n" * 100)
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    real_open_writer = fetch.open_writer
    for refuse in (False, True):
        writers: list[tuple[str, str]] = []
        if refuse:  # a file system that refuses O_DIRECT
            monkeypatch.setattr(filewriters, "fcntl", RefusingFcntl)

        def open_writer(
            path: str,
            *args: Any,
            made: list[tuple[str, str]] = writers,
            into: Path = tmp_path / f"out-{refuse}",
            **kwargs: Any,
        ) -> FileWriter:
            out = real_open_writer(path, *args, **kwargs)
            assert args[0] & getattr(os, "O_TMPFILE", 0) and path == "."  # unnamed until complete, in its directory
            assert os.path.samefile(f"/proc/self/fd/{kwargs['dir_fd']}", into / "src")  # (by descriptor)
            made.append(("big.bin" if kwargs["pool"] is not None else "small.txt", type(out).__name__))
            return out

        monkeypatch.setattr(fetch, "open_writer", open_writer)
        out = tmp_path / f"out-{refuse}"
        restore_files(repo, snap, str(out), Selection())
        assert_same_tree(src, out / "src")
        want = "PlainWriter" if refuse else "DirectWriter"
        assert sorted(writers) == [("big.bin", want), ("small.txt", "PlainWriter")]
        assert os.stat(out / "src" / "big.bin").st_blocks * 512 < 6 << 20  # the zero run stayed a hole


def test_a_large_file_failing_at_its_finish_fails_the_restore_and_is_removed(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error when a direct file's last segments are written (a full disk) fails the restore,
    and no half-written file stays behind."""
    import errno

    if not takes_o_direct(tmp_path):
        pytest.skip(f"{tmp_path} does not take O_DIRECT")
    monkeypatch.setenv(procpool.ENV, "0")  # the failing writes are counted in this process: the thread path
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"big{i}.bin").write_bytes(os.urandom((2 << 20) + i))
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    real_finish = filewriters.DirectWriter.finish
    failed: list[int] = []

    def finish(self: filewriters.DirectWriter, size: int) -> None:
        if size == (2 << 20) + 1:
            failed.append(size)
            raise OSError(errno.ENOSPC, "No space left on device")
        real_finish(self, size)

    monkeypatch.setattr(filewriters.DirectWriter, "finish", finish)
    out = tmp_path / "out"
    fds = len(os.listdir("/proc/self/fd"))
    with pytest.raises(StorageError, match="restore target full.*No space left"):  # exit 14, one line
        restore_files(repo, snap, str(out), Selection())
    assert len(os.listdir("/proc/self/fd")) == fds  # every writer closed its descriptor
    assert failed
    assert not (out / "src" / "big1.bin").exists()
    assert not [p for p in (out / "src").iterdir() if p.name.startswith(".drkit-restore")]


def test_read_all_reads_a_small_file_once_and_sees_growth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from drkit.sources.files import filereads as backup_mod

    path = tmp_path / "f"
    path.write_bytes(b"x" * 5000)
    reads: list[int] = []
    real_read = os.read

    def counting_read(fd: int, n: int) -> bytes:
        reads.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(backup_mod.os, "read", counting_read)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert backup_mod.read_all(fd, 5000) == b"x" * 5000
        assert reads == [5001]  # at its stat size: no second read to find the end
        os.lseek(fd, 0, os.SEEK_SET)
        assert backup_mod.read_all(fd, 4000) == b"x" * 4001  # grew since the stat: the extra byte shows it
        os.lseek(fd, 0, os.SEEK_SET)
        assert backup_mod.read_all(fd, 6000) == b"x" * 5000  # shrank: read to the end
    finally:
        os.close(fd)


def _restore_watching_names(repo: Repository, snap: Any, out: Path, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Restore ``snap`` into ``out`` (``--overwrite always``); the names in ``out/src`` each time a file
    whose content is all written is about to be finished (named or renamed), less that file's own name."""
    from drkit.sources.files import fetch

    seen: set[str] = set()
    real_finish = fetch.FileOut.finish

    def finish(self: Any) -> None:
        seen.update(set(os.listdir(out / "src")) - {os.path.basename(self.path)})
        real_finish(self)

    monkeypatch.setattr(fetch.FileOut, "finish", finish)
    restore_files(repo, snap, str(out), Selection(), policy=Policy(overwrite="always"))
    assert rsync_same(Path(snap.source_name), out / "src")  # one source path: the snapshot's name
    return seen


def rsync_same(a: Path, b: Path) -> bool:
    """The independent oracle: rsync finds no difference (content, metadata, xattrs, ACLs, holes)."""
    proc = subprocess.run(
        ["rsync", "-aHAXS", "--dry-run", "--checksum", "--itemize-changes", "--numeric-ids", f"{a}/", f"{b}/"],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout == ""


def test_files_are_written_unnamed_and_linked_when_complete(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Restored files are written unnamed (O_TMPFILE) and linked to their names once complete: while
    a file's blobs are written, no temporary name shows in its directory; a file already at the name
    (--overwrite) is replaced through a temporary name renamed over it, never written through."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(20):
        (src / f"f{i}").write_bytes(os.urandom(1000 + i))
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    seen = _restore_watching_names(repo, snap, tmp_path / "out", monkeypatch)
    assert not [n for n in seen if n.startswith(".drkit-restore")]
    victim = tmp_path / "victim"
    victim.write_text("not to be written through\n")
    (tmp_path / "out" / "src" / "f3").unlink()
    (tmp_path / "out" / "src" / "f3").symlink_to(victim)
    (tmp_path / "out" / "src" / "f4").write_text("stale\n")
    _restore_watching_names(repo, snap, tmp_path / "out", monkeypatch)
    assert victim.read_text() == "not to be written through\n"


def test_without_o_tmpfile_files_are_written_at_temporary_names(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system without O_TMPFILE (EOPNOTSUPP): files are written at temporary names, renamed
    when complete; same tree, modes too (created 0o600 there, whatever ``final_mode`` says; the umask
    takes bits from the create mode only)."""
    import errno

    from drkit.sources.files import fetch

    monkeypatch.setenv(procpool.ENV, "0")  # the opens are counted in this process: the thread path
    src = tmp_path / "src"
    src.mkdir()
    for i, mode in enumerate((0o000, 0o644, 0o755, 0o1750, 0o660)):
        (src / f"f{i}").write_bytes(os.urandom(3000 + i))
        (src / f"f{i}").chmod(mode)
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    real_open_writer = fetch.open_writer

    def open_writer(path: str, flags: int, *args: Any, **kwargs: Any) -> FileWriter:
        if flags & getattr(os, "O_TMPFILE", 0):
            raise OSError(errno.EOPNOTSUPP, "Operation not supported")
        return real_open_writer(path, flags, *args, **kwargs)

    monkeypatch.setattr(fetch, "open_writer", open_writer)
    umask = os.umask(0o027)
    try:
        seen = _restore_watching_names(repo, snap, tmp_path / "out", monkeypatch)  # rsync -aHAXS: same
    finally:
        os.umask(umask)
    assert [n for n in seen if n.startswith(".drkit-restore")]
    assert not [p for p in (tmp_path / "out" / "src").iterdir() if p.name.startswith(".drkit-restore")]
