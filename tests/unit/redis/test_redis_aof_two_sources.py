"""Two Redis servers archived into one repository under their own source names: their AOF directories
share file names (and here the base's second), so a point-in-time restore without ``--name`` must not
take their pieces for one group (an INCR file stitched from both servers) nor pick the newest group of
either source; it is refused, and with ``--name`` each restores its own writes only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from test_redis_aof_log import restored
from test_redis_aof_tail import BASE, T0, aof_dir, at, cmd, new_repo, ts

from drkit.core import clock
from drkit.core.errors import UsageError
from drkit.repository.repo import Repository
from drkit.sources.redis import catalog, ops
from drkit.sources.redis.aof_round import archive_once
from drkit.sources.redis.pitr import iso


@pytest.fixture(autouse=True)
def _real_clock_after() -> Any:
    yield
    clock.set_clock(None)


def _history(seconds: range, who: str) -> bytes:
    """One SET a second; both servers' commands are of one length (as counters or sessions are)."""
    return b"".join(ts(s) + cmd("SET", f"{who}{s}", who * 20) for s in seconds)


def _server(tmp_path: Path, who: str) -> Path:
    (tmp_path / who).mkdir()
    d = aof_dir(tmp_path / who)
    os.utime(d / "a.1.base.aof", (T0 - 5, T0 - 5))  # both bases in the same second
    return d


def _round(
    repo: Repository, dirs: dict[str, Path], data: dict[str, bytes], seconds: dict[str, range], now: int
) -> None:
    for name, d in dirs.items():
        data[name] += _history(seconds[name], name)
        (d / "a.1.incr.aof").write_bytes(data[name])
    at(now)
    for name, d in dirs.items():
        archive_once(repo, d, name)


def test_point_in_time_without_a_name_is_refused_when_two_sources_share_file_names(tmp_path: Path) -> None:
    """On the old code the two servers' pieces were one group and the restore succeeded silently with an
    INCR file of "one"'s first four seconds followed by "two"'s fifth (pieces of equal-length commands
    stitch into a valid AOF)."""
    repo = new_repo()
    dirs = {"one": _server(tmp_path, "one"), "two": _server(tmp_path, "two")}
    data = {"one": b"", "two": b""}
    _round(repo, dirs, data, {"one": range(T0, T0 + 4), "two": range(T0, T0 + 2)}, T0 + 5)
    _round(repo, dirs, data, {"one": range(T0 + 4, T0 + 5), "two": range(T0 + 2, T0 + 8)}, T0 + 8)
    assert [row["name"] for row in catalog.windows(repo) if row["kind"] == "aof+archive"] == ["one", "two"]
    when = iso(T0 + 5)
    with pytest.raises(UsageError, match=r"several Redis sources \(one, two\)"):
        ops.restore_redis(repo, None, ops.RestoreOptions(target_dir=tmp_path / "t", point_in_time=when))
    assert not (tmp_path / "t" / "appendonlydir" / "a.1.incr.aof").exists()
    for name in ("one", "two"):
        target = tmp_path / f"t-{name}"
        ops.restore_redis(repo, None, ops.RestoreOptions(target_dir=target, point_in_time=when, name=name))
        assert restored(target) == data[name].split(ts(T0 + 5))[0]  # its own writes before the point only
        assert (target / "appendonlydir" / "a.1.base.aof").read_bytes() == BASE
