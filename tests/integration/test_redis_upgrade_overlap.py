"""An AOF archive begun by an older drkit (id-less ``redis_aof`` records, one per round) and continued by
this one, which archives the group again from its start under its history id: the repository then holds
the same INCR byte ranges twice. Every point restored, before, at and after the boundary, must replay each
command exactly once: non-idempotent commands (INCR, APPEND, LPUSH), ``DEBUG DIGEST`` of the source at
each instant as the oracle; from the repository and from a ``drkit copy`` of it. The re-archived base is
deduplicated (the repository grows by far less than the base)."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from clirun import drkit
from servers.redis import RedisServer, digest
from test_redis_pitr_history import ENV, archive, iso, next_second, ok, restore, restored_digest, settle

from drkit.ops.session import open_repository
from drkit.repository.streams import store_refs
from drkit.repository.writer import BlobWriter
from drkit.sources.redis import aoflog, catalog, history, pitr
from drkit.sources.redis.aof import read_state, scan_timestamps
from drkit.sources.redis.kinds import ARCHIVE_KIND
from drkit.sources.redis.segments import segments

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIG = 2_000_000  # random bytes in the base: its re-archiving must cost far less


def _old_round(repo_path: str, server: RedisServer, run: str, ends: dict[str, int]) -> None:
    """One round of an older drkit: each file's growth since ``ends`` as one id-less record."""
    state = read_state(server.aof_dir)
    assert state.base is not None and len(state.incrs) == 1
    repo = open_repository(repo_path, ENV["DRKIT_PASSWORD"], load_index=True)
    try:
        todo = [f for f in (state.base, state.incrs[0]) if f.size > ends.get(f.name, 0)]
        for f in todo:
            start = ends.get(f.name, 0)
            data = (server.aof_dir / f.name).read_bytes()[start : f.size]
            with BlobWriter(repo=repo) as w:
                lists = store_refs(w, w.write_stream(io.BytesIO(data)))
                w.flush()
            stamps = scan_timestamps(data)
            doc = {
                "source_name": "redis",
                "base": state.base.name,
                "base_mtime": state.base_mtime,
                "file": f.name,
                "seq": f.seq,
                "type": f.type,
                "offset": start,
                "length": len(data),
                "first_ts": stamps[0] if stamps else None,
                "last_ts": stamps[-1] if stamps else None,
                "archived_at": time.time(),
                "run": run,
                "run_records": len(todo),
                "root": {"type": "stream", "lists": lists, "size": len(data)},
            }
            repo.manifests.put(ARCHIVE_KIND, doc)
            ends[f.name] = f.size
    finally:
        repo.close()


def _rewrite(server: RedisServer) -> None:
    """A base holding ``BIG`` random bytes: an AOF rewrite, awaited."""
    c = server.client()
    c.set("big", os.urandom(BIG))
    before = read_state(server.aof_dir).base
    c.bgrewriteaof()
    deadline = time.time() + 120
    while time.time() < deadline:
        state = read_state(server.aof_dir)
        info = c.info("persistence")
        if state.base != before and not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
            return
        time.sleep(0.05)
    raise AssertionError("the AOF rewrite did not finish")


def _size(path: str) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


@pytest.mark.parametrize("incr_big", [False, True], ids=["small-incr", "incr-over-max-piece"])
def test_overlapping_pieces_of_an_upgrade_restore_every_command_once(
    incr_big: bool, tmp_path: Path, redis_aof_server: RedisServer
) -> None:
    """``incr-over-max-piece``: the old record of the INCR file reaches past ``aoflog.MAX_PIECE``, where
    the re-archiving splits it: the restore takes the new pieces only, never the old record then the
    new piece after it (the history's own pieces from the file's start: ``history._own_first``)."""
    repo, copy = str(tmp_path / "repo"), str(tmp_path / "copy")
    for path in (repo, copy):
        assert drkit("init", "--repo", path, env=ENV).returncode == 0
    s = redis_aof_server
    _rewrite(s)
    c = s.client()
    points: list[tuple[float, str]] = []

    def phase(i: int) -> None:  # non-idempotent commands only; the state at the start of the next second
        c.incr("counter")
        c.append("log", f"<{i}>")
        c.lpush("list", f"item{i}")
        next_second()
        when = float(int(time.time()))
        points.append((when, digest(s)))

    old: dict[str, int] = {}
    if incr_big:
        c.set("big-incr", os.urandom(aoflog.MAX_PIECE + 100_000))
    phase(0)
    phase(1)
    settle(points[-1][0])
    _old_round(repo, s, "oldrun1", old)  # base + INCR [0, a)
    phase(2)
    settle(points[-1][0])
    _old_round(repo, s, "oldrun2", old)  # INCR [a, X): the boundary is at points[2]
    phase(3)
    settle(points[-1][0])
    before = _size(repo)
    archive(repo, s)  # the upgrade: the group again from its start, under the new id
    grown = _size(repo) - before
    phase(4)
    c.incr("counter")  # after the last point
    settle(points[-1][0])
    archive(repo, s)

    own = history.history_id(s.aof_dir)
    docs = [d for _, d in segments(open_repository(repo, ENV["DRKIT_PASSWORD"], load_index=False))]
    incr = {d.get("history"): d for d in docs if d["type"] == "i" and d["offset"] == 0}
    assert set(incr) == {None, own}  # the INCR file's first bytes stored twice: the overlap under test
    incr_once = aoflog.MAX_PIECE + 100_000 if incr_big else 0  # INCR bytes stored again, once
    assert grown < incr_once + BIG // 4, grown  # the base deduplicated

    if incr_big:  # the INCR plan: the new pieces only, from the file's start (``history._own_first``)
        plan = _incr_plan(repo, points[-1][0])
        assert plan[0][0].offset == 0 and {(p.history, skip) for p, skip in plan} == {(own, 0)}, plan
    ok("check", "--repo", repo)
    ok("redis", "windows", "--repo", repo)
    ok("backup", "redis", "--repo", repo, "--name", "redis", "--url", s.url)  # copy carries a source's AOF
    from_env = {**ENV, "DRKIT_FROM_PASSWORD": ENV["DRKIT_PASSWORD"]}
    proc = drkit("copy", "--from-repo", repo, "--repo", copy, env=from_env)
    assert proc.returncode == 0, proc.stderr.decode()
    _restores_match(points, [repo, copy], tmp_path)


def _incr_plan(repo_path: str, when: float) -> list[tuple[pitr.Piece, int]]:
    repo = open_repository(repo_path, ENV["DRKIT_PASSWORD"], load_index=False)
    try:
        cut = pitr.aof_cut(when)
        _, plans = pitr.plan_group(pitr.choose_group(pitr.group_pieces(catalog.aof_pieces(repo, "redis")), cut))
    finally:
        repo.close()
    (name,) = [n for n in plans if ".incr." in n]
    return plans[name]


def _restores_match(points: list[tuple[float, str]], repos: list[str], tmp_path: Path) -> None:
    """Each point restored from each repository gives the source's digest at that instant."""
    got = {}
    for where in repos:
        for i, (when, _) in enumerate(points):
            target = tmp_path / f"t-{Path(where).name}-{i}"
            restore(where, when, target)
            got[(Path(where).name, iso(when))] = restored_digest(target)
    want = {(Path(w).name, iso(when)): d for w in repos for when, d in points}
    assert got == want
    assert len({d for _, d in points}) == len(points)  # every instant tells the others apart
