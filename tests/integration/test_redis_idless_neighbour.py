"""An id-less archiver (a directory drkit cannot write its history id to) and an archiver with an id
under one name, their files of one name and second: the id-less pieces may be the other server's. A
point restored from the history's own pieces gives that server's state (``DEBUG DIGEST``), never one
server's first bytes stitched to the other's (``history._own_first``)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from clirun import drkit
from rediskit import init_repo
from servers.redis import RedisFactory, digest
from test_redis_history_ends import _one_second
from test_redis_pitr_history import ENV, archive, iso, next_second, restored_digest, settle

from drkit.sources.redis import history

pytestmark = pytest.mark.integration


def test_id_less_neighbour_bytes_are_never_stitched_before_a_history_s_own(
    tmp_path: Path, redis_factory: RedisFactory
) -> None:
    """two (with an id) archives its first command; one (id-less) archives two commands, further than
    two's first piece; two archives the rest. Commands of one length in the same seconds: one's first
    bytes then two's after them make a valid AOF of neither server."""
    repo = init_repo(tmp_path / "repo")
    with redis_factory(aof=True) as one, redis_factory(aof=True) as two:
        (one.aof_dir / history.HISTORY_FILE).write_text("not an id\n")
        _one_second([one, two])
        next_second()
        for name, s in (("one", one), ("two", two)):
            s.client().set("k0", f"{name}-0")
        archive(repo, two)  # two's first piece: k0
        next_second()
        for name, s in (("one", one), ("two", two)):
            s.client().set("k1", f"{name}-1")
        archive(repo, one)  # one's piece: k0, k1, further than two's first
        two.client().set("k2", "two-2")
        next_second()
        when = float(int(time.time()))
        states = {"one": digest(one), "two": digest(two)}
        settle(when)
        archive(repo, two)  # two's second piece: k1, k2
    args = ["restore", "redis", "--repo", repo, "--point-in-time", iso(when), "--name", "redis"]
    proc = drkit(*args, "--target-dir", str(tmp_path / "t"), env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    assert restored_digest(tmp_path / "t") == states["two"] != states["one"]  # before: neither's state
