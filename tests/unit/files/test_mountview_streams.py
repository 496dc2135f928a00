"""Stream snapshots in the view `drkit mount` serves (issue #26): a stream (standard input, a Redis RDB) is a
file named after its source, a bundle (a PostgreSQL logical dump and its globals) one file per part; reads at
any offset equal the bytes backed up; a damaged data blob or list blob is EIO, never other bytes."""

from __future__ import annotations

import errno
import io
import os
import random
import stat
from pathlib import Path

import pytest

from drkit.ops.mount import mountable_snapshots
from drkit.repository.repo import Repository
from drkit.repository.streams import BundleWriter, SourceRef, backup_stream
from drkit.sources.files.mountview import MountView
from drkit.sources.files.ops import BackupRequest, backup_files


def _flip(repo: Repository, blob_id: bytes) -> None:
    loc = repo.index.get(blob_id)
    assert loc is not None
    key = f"data/{loc.pack_id[:2]}/{loc.pack_id}"
    sealed = bytearray(repo.backend.get(key).read())
    sealed[loc.offset + 20] ^= 1
    repo.backend.put(key, bytes(sealed))


def test_streams_and_bundles_are_files(repo: Repository, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_text("a files snapshot alongside\n")
    files = backup_files(repo, BackupRequest(paths=[str(tmp_path / "src")])).snapshot
    data = random.Random(7).randbytes(900_000)
    stream = backup_stream(repo, SourceRef("stdin", "db/daily"), io.BytesIO(data))
    parts = {"dump": random.Random(8).randbytes(300_000), "globals": b"CREATE ROLE app;\n"}
    with BundleWriter(repo) as bundle:
        for name, body in parts.items():
            bundle.add(name, io.BytesIO(body))
        dumped = bundle.commit(SourceRef("postgres", "app", ["nightly"]))
    view = MountView(repo, mountable_snapshots(repo, None))
    assert sorted(view.names("/ids")) == sorted(s.id[:8] for s in (files, stream, dumped))
    assert view.names(f"/ids/{files.id[:8]}") == ["src"]
    assert view.names(f"/ids/{stream.id[:8]}") == ["db_daily"]  # a `/` in a source name becomes `_`
    assert view.names(f"/ids/{dumped.id[:8]}") == ["dump", "globals"]
    assert "latest" not in view.names("/snapshots")  # three sources: `latest` would name one of them
    assert view.link_target("/tags/nightly/" + view.link_target("/tags/nightly/latest")) == f"../../ids/{dumped.id[:8]}"
    attrs = view.attrs(f"/ids/{stream.id[:8]}/db_daily")
    assert stat.S_ISREG(attrs["st_mode"]) and stat.S_IMODE(attrs["st_mode"]) == 0o400
    assert (attrs["st_size"], attrs["st_uid"]) == (len(data), os.getuid())
    rnd = random.Random(1)
    fh = view.open(f"/ids/{stream.id[:8]}/db_daily")
    for _ in range(200):
        off, n = rnd.randrange(len(data) + 5), rnd.randrange(1, 150_000)
        assert view.read(fh, n, off) == data[off : off + n]
    for name, body in parts.items():
        part = view.open(f"/ids/{dumped.id[:8]}/{name}")
        assert view.read(part, len(body) + 10, 0) == body and view.attrs(f"/ids/{dumped.id[:8]}/{name}")[
            "st_size"
        ] == len(body)
    for path, code in (
        (f"/ids/{stream.id[:8]}/nope", errno.ENOENT),
        (f"/ids/{stream.id[:8]}/db_daily/x", errno.ENOTDIR),
    ):
        with pytest.raises(OSError) as exc:
            view.attrs(path)
        assert exc.value.errno == code, path

    victim = view._files[fh].ids[3]
    view._blobs.clear()
    _flip(repo, victim)
    start = view._files[fh].starts[3]
    assert view.read(fh, 100, start - 100) == data[start - 100 : start]
    with pytest.raises(OSError) as exc:
        view.read(fh, 200, start - 100)
    assert exc.value.errno == errno.EIO


def test_a_damaged_list_blob_fails_the_open_with_eio(repo: Repository) -> None:
    stream = backup_stream(repo, SourceRef("redis", "cache"), io.BytesIO(random.Random(9).randbytes(200_000)))
    _flip(repo, bytes.fromhex(stream.root["lists"][0]))
    view = MountView(repo, mountable_snapshots(repo, None))
    assert view.names(f"/ids/{stream.id[:8]}") == ["cache"]
    with pytest.raises(OSError) as exc:
        view.open(f"/ids/{stream.id[:8]}/cache")
    assert exc.value.errno == errno.EIO


def test_parts_whose_names_clash_once_made_safe_are_all_shown(repo: Repository) -> None:
    parts = {"a/b": b"slash\n", "a_b": b"underscore\n", ".": b"dot\n", "_": b"one underscore\n"}
    with BundleWriter(repo) as bundle:
        for name, body in parts.items():
            bundle.add(name, io.BytesIO(body))
        dumped = bundle.commit(SourceRef("postgres", "app"))
    view = MountView(repo, mountable_snapshots(repo, None))
    top = f"/ids/{dumped.id[:8]}"
    assert sorted(view.names(top)) == ["_", "_-1", "a_b", "a_b-1"]  # each part a file, none hidden
    shown = {name: view.read(view.open(f"{top}/{name}"), 100, 0) for name in view.names(top)}
    assert shown == {"a_b": b"underscore\n", "a_b-1": b"slash\n", "_": b"one underscore\n", "_-1": b"dot\n"}
