"""An entry swapped for a symlink (or its parent swapped) between the restore creating it and setting its
metadata: the owner, mode, xattrs and times are set on the entry the restore created or found, by
descriptor (``O_PATH|O_NOFOLLOW``, its identity checked), never on what a symlink at its name (or above
it) points to. A restore run as root into a directory another user can write must not chmod
``/etc/shadow`` for them. The entry no longer there is a warning (exit 3), its metadata not set.

Oracles: the outside entries' own ``lstat`` before and after, and the restored content against the
source by rsync."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from treediff import rsync_diff

from drkit.core.concurrency import Tuning
from drkit.core.errors import DrkitError
from drkit.repository.repo import Repository
from drkit.sources.files import Selection, procpool
from drkit.sources.files.existing import Policy
from drkit.sources.files.ops import BackupRequest, backup_files, restore_files
from drkit.sources.files.restore import Restorer, RestoreStats

MTIME_NS = 1_600_000_000_000_000_000
ROOT = os.geteuid() == 0


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "d" / "sub").mkdir(parents=True)
    (src / "d" / "sub" / "f").write_bytes(b"in sub\n" * 50)
    (src / "d" / "g").write_bytes(b"in d\n" * 50)
    (src / "keep").write_bytes(b"kept content\n" * 10)
    os.setxattr(src / "keep", "user.mark", b"src")
    os.setxattr(src / "d" / "sub", "user.mark", b"src")
    for path, mode in ((src / "d" / "sub", 0o751), (src / "d", 0o755), (src / "keep", 0o604)):
        os.chmod(path, mode)
        if ROOT:
            os.chown(path, 4321, 4321)
        os.utime(path, ns=(MTIME_NS, MTIME_NS))
    return src


def _outside(tmp_path: Path) -> Path:
    """What a hostile user points the symlinks at: a directory with a sub-directory and a file."""
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "keep").write_bytes(b"secret\n")
    for path in (outside, outside / "sub", outside / "keep"):
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
    return outside


def _state(root: Path) -> dict[str, tuple[int, int, int, int, list[str]]]:
    return {
        str(p): (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, sorted(os.listxattr(p, follow_symlinks=False)))
        for p in (root, *root.rglob("*"))
        if (st := os.lstat(p))
    }


def _swap(target: Path, name: str, to: Path) -> None:
    os.rename(target / name, target / f"{name}-moved")
    os.symlink(to, target / name)


def _restore_with(
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    swap: Callable[[], None],
    restore: Callable[[], RestoreStats],
    *,
    ahead: bool = False,
) -> RestoreStats:
    """``restore()`` with ``swap()`` run once, right after ``Restorer.<step>`` (or, ``ahead``, before it)."""
    inner = getattr(Restorer, step)
    done: list[bool] = []

    def swapped(self: Restorer, *a: object) -> object:
        if ahead and not done:
            swap()
            done.append(True)
        result = inner(self, *a)
        if not ahead:
            swap()
        return result

    monkeypatch.setattr(Restorer, step, swapped)
    return restore()


def test_a_directory_swapped_for_a_symlink_before_its_metadata(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """d swapped for a symlink to outside: d's metadata would land on outside, and d/sub's (through d, a
    swapped parent) on outside/sub."""
    src, outside = _source(tmp_path), _outside(tmp_path)
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    out = tmp_path / "out"
    before = _state(outside)
    stats = _restore_with(
        monkeypatch,
        "_delete_extras",  # the step right before the directories' metadata
        lambda: _swap(out / "src", "d", outside),
        lambda: restore_files(repo, snap, str(out), Selection()),
    )
    assert _state(outside) == before  # neither outside nor outside/sub got d's or d/sub's metadata
    assert any(w.startswith(f"{out}/src/d: ") and "metadata not set" in w for w in stats.warnings), stats.warnings
    assert any(w.startswith(f"{out}/src/d/sub: ") and "metadata not set" in w for w in stats.warnings), stats.warnings
    os.unlink(out / "src" / "d")
    os.rename(out / "src" / "d-moved", out / "src" / "d")
    content = rsync_diff(src, out / "src", flags=("-rlc",))  # the bytes are the source's
    assert content == [], content


def test_a_kept_file_swapped_for_a_symlink_before_its_metadata(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--overwrite if-changed`` keeps an unchanged file and sets its metadata: on that file only."""
    src, outside = _source(tmp_path), _outside(tmp_path)
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    out = tmp_path / "out"
    restore_files(repo, snap, str(out), Selection())
    assert rsync_diff(src, out / "src") == []
    os.chmod(out / "src" / "keep", 0o640)  # its metadata changed: the second restore sets it again
    before = _state(outside)
    stats = _restore_with(
        monkeypatch,
        "_write_files",  # right before the kept files' metadata
        lambda: _swap(out / "src", "keep", outside / "keep"),
        lambda: restore_files(repo, snap, str(out), Selection(), policy=Policy(overwrite="if-changed")),
    )
    assert _state(outside) == before
    assert any(w.startswith(f"{out}/src/keep: ") and "metadata not set" in w for w in stats.warnings), stats.warnings
    assert (out / "src" / "keep-moved").read_bytes() == (src / "keep").read_bytes()


def test_unswapped_entries_get_their_metadata_by_descriptor(repo: Repository, tmp_path: Path) -> None:
    """The same tree restored without a swap, then again with ``if-changed`` over changed metadata: equal
    to the source by rsync (modes, owners, times, xattrs), no warning."""
    src = _source(tmp_path)
    os.symlink("d/g", src / "link")
    os.utime(src / "link", ns=(MTIME_NS, MTIME_NS), follow_symlinks=False)
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    out = tmp_path / "out"
    assert restore_files(repo, snap, str(out), Selection()).warnings == []
    assert rsync_diff(src, out / "src") == []
    os.chmod(out / "src" / "keep", 0o600)
    os.chmod(out / "src" / "d" / "sub", 0o700)
    os.removexattr(out / "src" / "keep", "user.mark")
    assert rsync_diff(src, out / "src") != []
    stats = restore_files(repo, snap, str(out), Selection(), policy=Policy(overwrite="if-changed"))
    assert stats.warnings == [] and stats.unchanged == 3  # keep, d/g, d/sub/f
    assert rsync_diff(src, out / "src") == []


@pytest.mark.parametrize("processes", ["0", "1"])
def test_a_directory_swapped_for_a_symlink_before_its_files_are_written(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, processes: str
) -> None:
    """Between creating the directories and writing the files: d swapped for a symlink to outside, so
    d/sub's path leads to outside/sub (d itself holds no file: a symlink at a file's own directory
    was refused before, ENOTDIR). No file is created outside, in worker threads or processes: the
    restore fails with one line (exit 1); whatever it wrote is the source's."""
    src, outside = _source(tmp_path), _outside(tmp_path)
    (src / "d" / "g").unlink()
    os.utime(src / "d", ns=(MTIME_NS, MTIME_NS))
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    repo.tuning = Tuning(workers=2)
    monkeypatch.setenv(procpool.ENV, processes)
    out = tmp_path / "out"
    before = _state(outside)
    with pytest.raises(DrkitError) as info:
        _restore_with(
            monkeypatch,
            "_prepare",  # the directories exist, no file is written yet
            lambda: _swap(out / "src", "d", outside),
            lambda: restore_files(repo, snap, str(out), Selection()),
        )
    assert _state(outside) == before  # nothing created, written or changed there
    assert info.value.exit_code == 1
    assert f"{out}/src/d/sub" in str(info.value) and "replaced during the restore" in str(info.value)
    os.unlink(out / "src" / "d")
    os.rename(out / "src" / "d-moved", out / "src" / "d")
    for path in (out / "src").rglob("*"):  # what was written is the source's
        if path.is_file():
            assert path.read_bytes() == (src / path.relative_to(out / "src")).read_bytes(), path


@pytest.mark.parametrize("what", ["symlink", "hard link", "extra removed (--delete)"])
def test_nothing_is_created_or_removed_through_a_parent_swapped_after_the_files(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    """After the files are written, before the symlinks, hard links and ``--delete``: d swapped for a
    symlink to outside. The symlink d/sub/link, the hard link d/sub/hard and the removal of the extra
    entry d/sub/victim are done in the directory the restore made or found, by descriptor: never in
    outside/sub. The restore fails with one line (exit 1)."""
    src, outside = _source(tmp_path), _outside(tmp_path)
    if what == "symlink":
        os.symlink("f", src / "d" / "sub" / "link")
    elif what == "hard link":
        os.link(src / "keep", src / "d" / "sub" / "hard")
    (outside / "sub" / "victim").write_bytes(b"not the restore's to remove\n")
    snap = backup_files(repo, BackupRequest(paths=[str(src)])).snapshot
    out = tmp_path / "out"
    policy = None
    if what.startswith("extra"):
        restore_files(repo, snap, str(out), Selection())
        (out / "src" / "d" / "sub" / "victim").write_bytes(b"extra\n")  # in the target, not in the snapshot
        policy = Policy(overwrite="always", delete=True)
    before = _state(outside)
    with pytest.raises(DrkitError) as info:
        _restore_with(
            monkeypatch,
            "_hardlink" if what == "hard link" else "_write_files",  # the files are written
            lambda: _swap(out / "src", "d", outside),
            lambda: restore_files(repo, snap, str(out), Selection(), policy=policy),
            ahead=what == "hard link",  # the hard links are made at the end of _write_files
        )
    assert _state(outside) == before  # nothing created, linked or removed there
    assert info.value.exit_code == 1 and "replaced during the restore" in str(info.value)
