"""An AOF archive begun by an older drkit (every segment a ``redis_aof`` record with a stream root) and
continued by this one (AOF increments in the log archive) is one history: ``aof-archive`` (which writes a
history id) archives the group again from its start, never going on from pieces without an id (they may
be another server's: ``aof_round.archived_ends``), with no hole, and a point in time restored across both forms holds
exactly the writes before the point: the writer's log decides, and the restore's ``DEBUG DIGEST`` equals
that of a reference server given only those writes."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from clirun import drkit
from servers.redis import RedisFactory, RedisServer
from test_redis_pitr_second import ENV, check_restore, find_target, wait_for_second, write_one, writer

from drkit.ops.session import open_repository
from drkit.repository.streams import store_refs
from drkit.repository.writer import BlobWriter
from drkit.sources.redis.aof import read_state, scan_timestamps
from drkit.sources.redis.kinds import ARCHIVE_KIND
from drkit.sources.redis.segments import is_increment, segments

pytestmark = pytest.mark.integration


def archive_the_old_way(repo_path: str, server: RedisServer) -> int:
    """The base and the INCR file as they are now, stored as an older drkit stored them (one record per
    file, one run); appendfsync always: the INCR file ends after a whole command. Returns its size."""
    state = read_state(server.aof_dir)
    assert state.base is not None and len(state.incrs) == 1
    repo = open_repository(repo_path, ENV["DRKIT_PASSWORD"], load_index=True)
    try:
        for f in (state.base, state.incrs[0]):
            data = (server.aof_dir / f.name).read_bytes()[: f.size]
            with BlobWriter(repo=repo) as w:
                lists = store_refs(w, w.write_stream(io.BytesIO(data)))
                w.flush()
            stamps = scan_timestamps(data)
            repo.manifests.put(
                ARCHIVE_KIND,
                {
                    "source_name": "redis",
                    "base": state.base.name,
                    "base_mtime": state.base_mtime,
                    "file": f.name,
                    "seq": f.seq,
                    "type": f.type,
                    "offset": 0,
                    "length": len(data),
                    "first_ts": stamps[0] if stamps else None,
                    "last_ts": stamps[-1] if stamps else None,
                    "archived_at": time.time() - 2.0,
                    "run": "old0run",
                    "run_records": 2,
                    "root": {"type": "stream", "lists": lists, "size": len(data)},
                },
            )
        return state.incrs[0].size
    finally:
        repo.close()


def test_a_point_restored_across_old_records_and_new_increments(
    tmp_path: Path, redis_aof_server: RedisServer, redis_factory: RedisFactory
) -> None:
    repo = str(tmp_path / "repo")
    assert drkit("init", "--repo", repo, env=ENV).returncode == 0
    first = [write_one(redis_aof_server, f"old:{i}") for i in range(5)]
    old_end = archive_the_old_way(repo, redis_aof_server)
    log = first + writer(redis_aof_server, "new")
    wait_for_second(redis_aof_server, int(log[-1].before) + 3)  # the archive proves its last second complete
    proc = drkit("redis", "aof-archive", "--repo", repo, "--aof-dir", str(redis_aof_server.aof_dir), "--once", env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()

    r = open_repository(repo, ENV["DRKIT_PASSWORD"], load_index=False)
    try:
        incr = sorted(
            (is_increment(key), d["offset"], d["offset"] + d["length"]) for key, d in segments(r) if d["type"] == "i"
        )
    finally:
        r.close()
    assert incr[0] == (False, 0, old_end)  # the old record (no history id), then increments of the history
    new = incr[1:]  # from the file's start: an archiver with an id never goes on from id-less pieces
    assert new[0][1] == 0 and all(is_new for is_new, _, _ in new) and new[-1][2] > old_end
    assert [start for _, start, _ in new[1:]] == [end for _, _, end in new[:-1]]

    found = find_target(log, whole=False)
    assert found is not None
    check_restore(repo, log, found[0], found[1], tmp_path / "inside", redis_factory)
    whole = find_target(log, whole=True)
    assert whole is not None
    check_restore(repo, log, whole[0], whole[1], tmp_path / "whole", redis_factory)
