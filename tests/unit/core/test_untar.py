"""In-process tar extraction (PostgreSQL base backups): content, modes and times as ``tar -x``
leaves them, fed in pieces of any size; large files through the O_DIRECT writers; names that would
leave the target, members under a symlink and unhandled types refused; broken streams and failing
writes reported, not swallowed."""

from __future__ import annotations

import io
import os
import random
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from refusing_fs import takes_o_direct

from drkit.core import untar
from drkit.core.filewriters import DIRECT_FROM, DirectPool
from drkit.core.untar import BLOCK, TarExtractor, TarFormatError, UnsafeArchive

MTIME = 1_700_000_000


@pytest.fixture
def pool() -> Iterator[DirectPool]:
    with DirectPool(64 << 10, threads=2) as p:
        yield p


def _tar(members: list[tuple[str, bytes | None, int, str | None]]) -> bytes:
    """A ustar archive: (name, data or None for a directory, mode, symlink target)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for i, (name, data, mode, link) in enumerate(members):
            info = tarfile.TarInfo(name)
            info.mode, info.mtime = mode, MTIME + i
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            elif data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _feed(target: Path, archive: bytes, pool: DirectPool | None, seed: int = 1) -> None:
    rng = random.Random(seed)
    with TarExtractor(target, pool) as tar:
        at = 0
        while at < len(archive):
            n = rng.choice([1, 7, 511, 512, 513, 4096, 100_000, 1 << 20])
            piece = archive[at : at + n]
            assert tar.write(piece) == len(piece)  # all taken, whatever the piece ends inside
            at += n
        tar.close()


def _tree(root: Path) -> dict[str, tuple[str, int, int, bytes | str]]:
    found = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            what: bytes | str = os.readlink(path)
        elif stat.S_ISDIR(st.st_mode):
            what = b""
        else:
            what = path.read_bytes()
        found[str(path.relative_to(root))] = (stat.filemode(st.st_mode), int(st.st_mtime), st.st_size, what)
    return found


def test_round_trip_matches_tar_x(tmp_path: Path, pool: DirectPool) -> None:
    rng = random.Random(5)
    big = rng.randbytes(DIRECT_FROM + 12_345)  # O_DIRECT path, unaligned size
    members = [
        ("base", None, 0o700, None),
        ("base/1", None, 0o750, None),
        ("base/1/1255", rng.randbytes(8192), 0o600, None),
        ("base/1/empty", b"", 0o600, None),
        ("base/1/odd", rng.randbytes(777), 0o640, None),
        ("base/16384/16397", big, 0o600, None),  # parent directory not in the archive
        ("base/ünïcode name", b"hello", 0o644, None),
        ("pg_wal", None, 0o700, None),
        ("pg_wal/000000010000000000000001", bytes(DIRECT_FROM * 2), 0o600, None),
        ("link", None, 0o755, "base/1/1255"),
        ("global/pg_control", rng.randbytes(8192), 0o600, None),
    ]
    archive = _tar(members)
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    mine.mkdir()
    theirs.mkdir()
    _feed(mine, archive, pool)
    with tarfile.open(fileobj=io.BytesIO(archive)) as ref:
        ref.extractall(theirs)
    got, want = _tree(mine), _tree(theirs)
    assert got.keys() == want.keys()
    implicit = ("base/16384", "global")  # not in the archive: no mode or time to restore
    for name, (mode, mtime, size, what) in want.items():
        g_mode, g_mtime, g_size, g_what = got[name]
        assert (g_size, g_what) == (size, what), name
        if name in implicit:
            assert g_mode == "drwx------", name  # private, as a data directory must be (tar: 0777 & ~umask)
        elif mode.startswith("l"):  # neither sets a symlink's time: both are creation times (flaky to compare)
            assert g_mode == mode, name
        else:
            assert (g_mode, g_mtime) == (mode, mtime), name


@pytest.mark.parametrize("seed", [2, 3])
def test_large_files_go_direct_where_the_file_system_takes_it(
    tmp_path: Path, pool: DirectPool, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not takes_o_direct(tmp_path):
        pytest.skip("this file system does not take O_DIRECT")
    opened: list[tuple[str, bool]] = []
    real = untar.open_writer

    def spy(path: Path, flags: int, mode: int, *, pool: DirectPool | None) -> object:
        writer = real(path, flags, mode, pool=pool)
        opened.append((Path(path).name, getattr(writer, "direct", False)))
        return writer

    monkeypatch.setattr(untar, "open_writer", spy)
    data = random.Random(seed).randbytes(3 * DIRECT_FROM + 5)
    _feed(tmp_path, _tar([("big", data, 0o600, None), ("small", b"x" * 100, 0o600, None)]), pool, seed)
    assert sorted(opened) == [("big", True), ("small", False)]  # small files never take a direct writer
    assert (tmp_path / "big").read_bytes() == data
    assert (tmp_path / "small").read_bytes() == b"x" * 100


@pytest.mark.parametrize("name", ["../escape", "a/../../escape", "/tmp/escape-abs"])
def test_names_leaving_the_target_are_refused(tmp_path: Path, name: str) -> None:
    target = tmp_path / "t"
    target.mkdir()
    with pytest.raises(UnsafeArchive, match="outside the target"):
        _feed(target, _tar([("ok", b"fine", 0o600, None), (name, b"evil", 0o600, None)]), None)
    assert not (tmp_path / "escape").exists() and not Path("/tmp/escape-abs").exists()


def test_members_under_a_symlink_are_refused(tmp_path: Path) -> None:
    target, outside = tmp_path / "t", tmp_path / "outside"
    target.mkdir()
    outside.mkdir()
    archive = _tar(
        [
            ("pg_tblspc", None, 0o700, None),
            ("pg_tblspc/1", None, 0o777, str(outside)),
            ("pg_tblspc/1/file", b"evil", 0o600, None),
        ]
    )
    with pytest.raises(UnsafeArchive, match="under a symlink"):
        _feed(target, archive, None)
    assert list(outside.iterdir()) == []


def test_a_symlinks_own_name_is_refused_afterwards(tmp_path: Path) -> None:
    target, outside = tmp_path / "t", tmp_path / "outside"
    target.mkdir()
    outside.mkdir()
    archive = _tar([("l", None, 0o777, str(outside)), ("l", None, 0o777, None)])  # a directory chmod through it
    with pytest.raises(UnsafeArchive, match="under a symlink"):
        _feed(target, archive, None)
    assert stat.S_IMODE(outside.stat().st_mode) != 0o777


def test_other_member_types_are_refused(tmp_path: Path) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(tarfile.TarInfo("a"), io.BytesIO(b""))
        link = tarfile.TarInfo("b")
        link.type, link.linkname = tarfile.LNKTYPE, "a"
        tar.addfile(link)
    with pytest.raises(UnsafeArchive, match="not handled"):
        _feed(tmp_path, out.getvalue(), None)


def test_a_stream_ending_inside_a_member_fails(tmp_path: Path) -> None:
    archive = _tar([("f", random.Random(1).randbytes(5000), 0o600, None)])
    with pytest.raises(TarFormatError, match="ends inside a member"):
        _feed(tmp_path, archive[: BLOCK + 1000], None)


def test_a_damaged_header_fails(tmp_path: Path) -> None:
    archive = bytearray(_tar([("f", b"data", 0o600, None)]))
    archive[10] ^= 0x55  # the checksum no longer matches
    with pytest.raises(TarFormatError, match="bad tar header"):
        _feed(tmp_path, bytes(archive), None)


def test_a_small_file_that_cannot_be_written_fails_the_extraction(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()  # a directory where the archive has a file
    archive = _tar([("a", b"1", 0o600, None), ("taken", b"2", 0o600, None), ("z", b"3", 0o600, None)])
    with pytest.raises(IsADirectoryError):
        _feed(tmp_path, archive, None)


def test_a_large_file_cut_short_leaves_no_descriptor_open(tmp_path: Path, pool: DirectPool) -> None:
    archive = _tar([("big", random.Random(4).randbytes(2 * DIRECT_FROM), 0o600, None)])
    fds = len(os.listdir("/proc/self/fd"))
    with pytest.raises(TarFormatError):
        _feed(tmp_path, archive[: BLOCK + DIRECT_FROM], pool)
    assert len(os.listdir("/proc/self/fd")) == fds


def test_a_negative_size_is_refused_not_looped_on(tmp_path: Path) -> None:
    header = bytearray(tarfile.TarInfo("f").tobuf(tarfile.USTAR_FORMAT))
    header[124:136] = b"\xff" * 12  # base-256: -1
    header[148:156] = b" " * 8
    header[148:155] = f"{sum(header):06o}\0".encode()
    with pytest.raises(TarFormatError, match="negative size"):
        _feed(tmp_path, bytes(header) + bytes(3 * BLOCK), None)


def test_a_name_appearing_twice_is_refused(tmp_path: Path) -> None:
    """Small files are written on threads, in any order: a repeated name could end up with either
    content (tar keeps the last); pg_basebackup never repeats one."""
    archive = _tar([("x", b"A" * 100_000, 0o600, None), ("x", b"B", 0o600, None)])
    with pytest.raises(UnsafeArchive, match="appears twice"):
        _feed(tmp_path, archive, None)


def test_directories_the_archive_does_not_list_are_private(tmp_path: Path) -> None:
    _feed(tmp_path, _tar([("a/b/c/f", b"data", 0o600, None)]), None)
    for rel in ("a", "a/b", "a/b/c"):
        assert stat.S_IMODE((tmp_path / rel).stat().st_mode) == 0o700, rel


def test_a_stream_without_its_end_block_fails(tmp_path: Path) -> None:
    archive = _tar([("a", b"1" * 600, 0o600, None)])
    cut = BLOCK + 1024  # the member's header and data (padded), no end-of-archive block
    with pytest.raises(TarFormatError, match="without its end-of-archive block"):
        _feed(tmp_path, archive[:cut], None)


def test_members_after_a_stray_zero_block_are_not_dropped_silently(tmp_path: Path) -> None:
    first, second = _tar([("a", b"1", 0o600, None)]), _tar([("b", b"2", 0o600, None)])
    archive = first[: 2 * BLOCK] + bytes(BLOCK) + second  # a's header and data, a zero block, then b
    with pytest.raises(TarFormatError, match="after the end-of-archive block"):
        _feed(tmp_path, archive, None)
