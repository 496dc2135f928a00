"""The server history (``drkit.sources.redis.history``) where two servers' AOF meet, with real Redis 7
servers and ``DEBUG DIGEST`` of the source at the target instant as the oracle:

- an archiver round during a restore archives nothing (the restore holds the directory and marks it)
  and the restore writes the new id last: the restored files are never recorded under the old
  server's id, nor uncut, and the restored server's own history restores;
- ``drkit copy`` copies both servers' base records archived under one name (same base name, second,
  offset and length: only the history tells them apart), and each restores from the copy as from the
  source repository;
- an archiver with an id never takes an id-less archiver's ends (two servers under one name) for its
  own: it archives every byte of its own server."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit, one_line_error
from rediskit import ENV, init_repo, iso, next_second
from servers.redis import RedisFactory, RedisServer, digest, start_redis
from test_redis_pitr_history import (
    archive,
    backup_aof,
    base_file,
    mark_point,
    ok,
    restore,
    restored_digest,
    settle,
)

from drkit.repository.repo import Repository
from drkit.sources.redis import aoflog, history, history_dir, ops, pitr
from drkit.sources.redis.aof_round import archive_once
from drkit.sources.redis.kinds import ARCHIVE_KIND
from drkit.sources.redis.segments import segments
from storage_backends.local import LocalBackend

pytestmark = pytest.mark.integration


def opened(path: str) -> Repository:
    return Repository.open(LocalBackend(Path(path)), ENV["DRKIT_PASSWORD"])


def _one_second(servers: list[RedisServer]) -> None:
    """Both servers' base files of one name and second: their files are keyed alike."""
    second = min(int(base_file(s).stat().st_mtime) for s in servers)
    for s in servers:
        os.utime(base_file(s), (second, second))


def _source_state(repo: str, a: RedisServer, how: str) -> tuple[str | None, str | None, str]:
    """(snapshot ref, point in time, the digest the restore must give): an AOF snapshot or a point."""
    c = a.client()
    c.set("k1", "one")
    if how == "snapshot":
        backup_aof(repo, a, "a")
        return "latest", None, digest(a)
    next_second()
    c.set("k2", "two")
    when, expected = mark_point(repo, a, "a")
    return None, iso(when), expected


def _rounds_during(how: str, monkeypatch: pytest.MonkeyPatch, window: Callable[[], None]) -> None:
    """``window`` (an archiver round) run inside the restore: after every file it writes; for a point,
    also between the files written and ``redis-check-aof``'s cut of them."""
    if how == "snapshot":
        write_part = ops._write_part

        def each_part(repo_: Repository, snap: Any, part: str, path: Path, **kw: Any) -> int:
            n = write_part(repo_, snap, part, path, **kw)
            window()
            return n

        monkeypatch.setattr(ops, "_write_part", each_part)
        return
    write_group, truncate_to = pitr.write_group, pitr.truncate_to
    monkeypatch.setattr(pitr, "write_group", lambda *args: (write_group(*args), window()))
    monkeypatch.setattr(pitr, "truncate_to", lambda *args: (truncate_to(*args), window()))


@pytest.mark.parametrize("how", ["snapshot", "point"])
def test_an_archiver_round_during_a_restore_archives_nothing_and_the_restored_server_restores(
    how: str, tmp_path: Path, redis_factory: RedisFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An archiver round run while a restore writes the directory it archives (here: after every file,
    and between the files written and the cut of a point) archives nothing: the restore holds the
    directory and marks it. Before, the old id went first and the next round wrote a new one: a round
    before the cut recorded the uncut files, and the restored server's writes were then archived from
    the uncut end (the restore of a later point failed, or was another state). The restore writes the
    new id last; the restored server's own writes are archived from its files' start and restore."""
    repo, b_repo = init_repo(tmp_path / "repo"), init_repo(tmp_path / "b-repo")
    with redis_factory(aof=True) as a:
        ref, point, expected = _source_state(repo, a, how)
    with redis_factory(aof=True) as b:  # the server the restore replaces, archived by its own archiver
        b.client().set("old", "server b")
        archive(b_repo, b, "b")
        old_id = (b.aof_dir / history.HISTORY_FILE).read_text().split()[0]
    b_archive = opened(b_repo)
    rounds: list[object] = []

    def a_round() -> None:  # refused: read nothing (``ops.aof_archive`` counts it no success)
        try:
            rounds.append(archive_once(b_archive, b.aof_dir, "b"))
        except history.RestoreInProgress as exc:
            rounds.append(exc.exit_code)

    _rounds_during(how, monkeypatch, a_round)
    opts = ops.RestoreOptions(target_dir=b.dir, point_in_time=point, name="a", force=True)
    ops.restore_redis(opened(repo), ref, opts)
    monkeypatch.undo()
    assert len(rounds) >= 2 and rounds == [1] * len(rounds)
    new_id = (b.aof_dir / history.HISTORY_FILE).read_text().split()[0]
    assert new_id != old_id and not (b.aof_dir / history_dir.RESTORE_MARKER).exists()
    with start_redis(b.dir, aof=True) as loaded:
        assert digest(loaded) == expected
        loaded.client().set("k5", "written after the restore")
        when, expected = mark_point(b_repo, loaded, "b")
    assert {d.get("history") for _, d in segments(opened(b_repo))} == {old_id, new_id}
    restore(b_repo, when, tmp_path / "again", "--name", "b")
    assert restored_digest(tmp_path / "again") == expected


def _bases(repo: str) -> dict[Any, set[str | None]]:
    """Base records by everything but the history: the key ``drkit copy`` used to tell them apart."""
    found: dict[Any, set[str | None]] = {}
    for _, d in opened(repo).manifests.find(ARCHIVE_KIND, lambda d: d["type"] == "b"):
        found.setdefault((d["source_name"], d["base"], d["base_mtime"], d["offset"], d["length"]), set()).add(
            d.get("history")
        )
    return found


def _restore_both(repos: list[str], when: float, tmp_path: Path) -> list[str]:
    """The digest restored (``--name redis``) from each repository."""
    out = []
    for i, path in enumerate(repos):
        restore(path, when, tmp_path / f"r{i}", "--name", "redis")
        out.append(restored_digest(tmp_path / f"r{i}"))
    return out


def _copy(repo: str, copy: str) -> None:
    from_env = {**ENV, "DRKIT_FROM_PASSWORD": ENV["DRKIT_PASSWORD"]}
    proc = drkit("copy", "--from-repo", repo, "--repo", copy, env=from_env)
    assert proc.returncode == 0, proc.stderr.decode()


def test_copy_carries_two_servers_base_records_archived_under_one_name(
    tmp_path: Path, redis_factory: RedisFactory
) -> None:
    """Server one's archive is copied, then server two's (one name; base files of one name, second and
    length). Before, the second copy took two's base record for one's, copied already: the copy lacked
    two's base, so two's pieces there had none to restore from, while the source restored two's state.
    A point both servers' pieces cover is refused from either repository alike."""
    repo, copy = init_repo(tmp_path / "repo"), init_repo(tmp_path / "copy")
    with redis_factory(aof=True) as one, redis_factory(aof=True) as two:
        _one_second([one, two])
        next_second()
        for name, s in (("one", one), ("two", two)):
            s.client().set("k1", f"{name}-k1")  # one length on both: base and INCR files alike in size
        next_second()
        both = float(int(time.time()))
        settle(both)
        archive(repo, one)  # one's archive stops here
        ok("backup", "redis", "--repo", repo, "--name", "redis", "--url", one.url)  # copy carries its source's AOF
        _copy(repo, copy)
        two.client().set("k2", "two-k2")
        when, expected = mark_point(repo, two)
    assert [len(h) for h in _bases(repo).values()] == [2]  # the key without the history: one for both
    _copy(repo, copy)
    assert _bases(copy) == _bases(repo)
    assert _restore_both([repo, copy], when, tmp_path) == [expected, expected]
    for path in (repo, copy):
        args = ["restore", "redis", "--repo", path, "--point-in-time", iso(both), "--name", "redis"]
        proc = drkit(*args, "--target-dir", str(tmp_path / "refused"), env=ENV)
        assert proc.returncode == 2 and "2 different Redis servers" in one_line_error(proc), proc.stderr.decode()


def _forget_idless(repo: str) -> None:
    """Remove the pieces without a history id (server one's), as if its archive were gone."""
    r = opened(repo)
    for key, doc in segments(r):
        if doc.get("history") is None:
            if "_" in key:
                assert aoflog.archive(r).delete(key)
            else:
                r.manifests.delete(ARCHIVE_KIND, key)


def test_an_archiver_with_an_id_archives_every_byte_next_to_an_id_less_one_under_one_name(
    tmp_path: Path, redis_factory: RedisFactory
) -> None:
    """Server one's directory gives no id (its id file holds no valid id, as a directory drkit cannot write
    to), two's does; one name, files of one name and second. Before, two's archiver took one's archived
    ends for its own: its base and first writes were never archived, and its pieces alone restored nothing
    (the base "not in the repository"). Now they restore two's state at the point."""
    repo = init_repo(tmp_path / "repo")
    with redis_factory(aof=True) as one, redis_factory(aof=True) as two:
        (one.aof_dir / history.HISTORY_FILE).write_text("not an id\n")
        _one_second([one, two])
        next_second()
        one.client().set("k1", "one-k1")
        one.client().set("k2", "one-k2")
        two.client().set("k1", "two-k1")
        archive(repo, one)  # id-less: ends further than two's file is long
        two.client().set("k2", "two-k2")
        when, expected = mark_point(repo, two)
        own = history.history_id(two.aof_dir)
        mine = [d for _, d in segments(opened(repo)) if d.get("history") == own]
        incr = (two.aof_dir / "appendonly.aof.1.incr.aof").stat().st_size
    assert sorted((d["type"], d["offset"]) for d in mine)[:2] == [("b", 0), ("i", 0)]
    assert max(d["offset"] + d["length"] for d in mine if d["type"] == "i") <= incr
    _forget_idless(repo)
    restore(repo, when, tmp_path / "t", "--name", "redis")
    assert restored_digest(tmp_path / "t") == expected
