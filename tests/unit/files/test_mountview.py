"""The view `drkit mount` serves, without FUSE (memory backend, small chunks): the namespace of ids, times,
hosts and tags; attributes as recorded; reads at any offset equal the file; damage and bad paths are errnos."""

from __future__ import annotations

import errno
import os
import random
import stat
from pathlib import Path

import pytest

from drkit.ops.mount import files_snapshots
from drkit.repository.repo import Repository
from drkit.sources.files.mountview import MountView, _short_ids
from drkit.sources.files.ops import BackupRequest, backup_files


def _view(repo: Repository, tmp_path: Path, tags: list[str] | None = None) -> tuple[MountView, str, bytes]:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    data = random.Random(3).randbytes(700_000)
    (src / "d" / "f.bin").write_bytes(data)
    os.link(src / "d" / "f.bin", src / "hard")
    (src / "l").symlink_to("d/f.bin")
    snap = backup_files(repo, BackupRequest(paths=[str(src)], tags=tags or [])).snapshot
    return MountView(repo, files_snapshots(repo, None)), snap.id, data


def test_namespace_and_attributes(repo: Repository, tmp_path: Path) -> None:
    view, snap_id, data = _view(repo, tmp_path, ["t/1"])
    assert view.names("/") == ["hosts", "ids", "snapshots", "tags"]
    assert view.names("/ids") == [snap_id[:8]] and view.names("/tags") == ["t_1"]
    assert view.link_target("/snapshots/latest") in view.names("/snapshots")
    assert view.link_target("/tags/t_1/latest") in view.names("/tags/t_1")
    base = f"/ids/{snap_id[:8]}/src"
    assert view.names(base) == ["d", "hard", "l"]
    st = os.lstat(tmp_path / "src" / "d" / "f.bin")
    attrs = view.attrs(base + "/d/f.bin")
    assert (attrs["st_mode"], attrs["st_size"], attrs["st_mtime"], attrs["st_nlink"]) == (
        st.st_mode,
        st.st_size,
        st.st_mtime_ns,
        2,
    )
    assert attrs["st_ino"] == view.attrs(base + "/hard")["st_ino"] != view.attrs(base + "/l")["st_ino"]
    assert stat.S_ISLNK(view.attrs(base + "/l")["st_mode"]) and view.link_target(base + "/l") == "d/f.bin"
    for path, code in ((base + "/nope", errno.ENOENT), (base + "/hard/x", errno.ENOTDIR), ("/x", errno.ENOENT)):
        with pytest.raises(OSError) as exc:
            view.attrs(path)
        assert exc.value.errno == code, path
    with pytest.raises(OSError) as exc:
        view.open(base + "/d")
    assert exc.value.errno == errno.EISDIR


def test_reads_at_any_offset_and_damage_is_eio(repo: Repository, tmp_path: Path) -> None:
    view, snap_id, data = _view(repo, tmp_path)
    fh = view.open(f"/ids/{snap_id[:8]}/src/d/f.bin")
    assert len(view._files[fh].ids) > 3  # several chunks
    rnd = random.Random(1)
    for _ in range(300):
        off, n = rnd.randrange(len(data) + 5), rnd.randrange(1, 200_000)
        assert view.read(fh, n, off) == data[off : off + n]
    victim = view._files[fh].ids[2]
    view._blobs.clear()
    loc = repo.index.get(victim)
    assert loc is not None
    key = f"data/{loc.pack_id[:2]}/{loc.pack_id}"
    sealed = bytearray(repo.backend.get(key).read())
    sealed[loc.offset + 20] ^= 1
    repo.backend.put(key, bytes(sealed))
    start = view._files[fh].starts[2]
    assert view.read(fh, 100, start - 100) == data[start - 100 : start]
    with pytest.raises(OSError) as exc:
        view.read(fh, 200, start - 100)
    assert exc.value.errno == errno.EIO
    view.release(fh)
    with pytest.raises(OSError):
        view.read(fh, 1, 0)


def test_short_ids_grow_until_unique() -> None:
    ids = ["abcdef0123456789" + "0" * 48, "abcdef0123456789" + "1" * 48, "ffff" + "0" * 60]
    assert _short_ids(ids) == {ids[0]: ids[0][:20], ids[1]: ids[1][:20], ids[2]: "ffff0000"}


def test_without_mfusepy_mount_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from drkit.core.extras import missing_extra
    from drkit.ops.mount import _binding

    monkeypatch.setitem(sys.modules, "mfusepy", None)  # as if not installed
    with pytest.raises(ImportError) as exc:
        _binding()
    err = missing_extra(exc.value)
    assert err is not None and err.extra == "mount" and err.exit_code == 2


def test_latest_links_only_without_a_damaged_newer_manifest(repo: Repository, tmp_path: Path) -> None:
    """ops/mount.py leaves the `latest` links out when a damaged snapshot manifest may be newer than one they
    would name (tests/integration/test_mount.py mounts that case); one stored before them keeps them."""
    from drkit.ops.mount import damaged_newer
    from drkit.repository.snapshots import KIND, manifest_key

    _, old_id, _ = _view(repo, tmp_path, ["t"])
    new_id = backup_files(repo, BackupRequest(paths=[str(tmp_path / "src")], tags=["t"])).snapshot.id
    listed = {s.id: s for s in files_snapshots(repo, None)}
    repo.manifests.skip(manifest_key(KIND, new_id), "fails authentication")  # as a listing skips a damaged one
    assert damaged_newer(repo, [listed[old_id]], None) == [manifest_key(KIND, new_id)]
    repo.manifests.skipped.clear()
    repo.manifests.skip(manifest_key(KIND, old_id), "fails authentication")
    assert damaged_newer(repo, [listed[new_id]], None) == []
    assert "latest" in MountView(repo, [listed[new_id]]).names("/tags/t")
    view = MountView(repo, [listed[old_id]], latest=False)
    assert "latest" not in view.names("/snapshots") and "latest" not in view.names("/tags/t")
    (name,) = view.names("/snapshots")  # the snapshot is still there by its time
    assert view.link_target(f"/snapshots/{name}") == f"../ids/{old_id[:8]}"


def test_tags_whose_names_clash_once_made_safe_keep_their_own_latest(repo: Repository, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_text("x\n")
    plain = backup_files(repo, BackupRequest(paths=[str(tmp_path / "src")], tags=["a_b"])).snapshot
    slash = backup_files(repo, BackupRequest(paths=[str(tmp_path / "src")], tags=["a/b"])).snapshot  # the newer
    view = MountView(repo, files_snapshots(repo, None))
    assert view.names("/tags") == ["a_b", "a_b-1"]  # one directory per tag, not both tags' snapshots in one
    for tag, snap in (("a_b", plain), ("a_b-1", slash)):
        assert view.link_target(f"/tags/{tag}/" + view.link_target(f"/tags/{tag}/latest")) == f"../../ids/{snap.id[:8]}"


def test_latest_only_where_a_group_holds_one_source(repo: Repository, tmp_path: Path) -> None:
    """`latest` is the newest snapshot of one source: with backups of two trees (two sources, one host,
    one tag) /snapshots, /hosts/H and /tags/T have no `latest` link, which named the other tree's newest;
    a tag on one tree's snapshots alone keeps its own."""
    etc, home = tmp_path / "etc", tmp_path / "home"
    for d in (etc, home):
        d.mkdir()
        (d / "f").write_bytes(os.urandom(100))
    backup_files(repo, BackupRequest(paths=[str(etc)], tags=["both", "e"]))
    backup_files(repo, BackupRequest(paths=[str(home)], tags=["both"]))
    view = MountView(repo, files_snapshots(repo, None))
    assert "latest" not in view.names("/snapshots") and "latest" not in view.names("/tags/both")
    (host,) = view.names("/hosts")
    assert "latest" not in view.names(f"/hosts/{host}")
    latest_e = view.link_target("/tags/e/" + view.link_target("/tags/e/latest"))
    assert view.names(latest_e.replace("../..", "") + "") == ["etc"]
