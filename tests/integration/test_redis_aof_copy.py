"""`drkit copy` carries a Redis source's archived AOF (the base records and the AOF increments of the
log archive, re-sealed with the target's keys): the copy checks with --read-data, and a point in time
restored from it holds exactly the writes before the point, by ``DEBUG DIGEST`` against a reference
server given only those writes (the writer's own log decides, never drkit's metadata). A second copy
carries nothing again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirun import drkit
from servers.redis import RedisFactory, RedisServer
from test_redis_pitr_second import ENV, after, check_restore, find_target, history

pytestmark = pytest.mark.integration


def test_copied_aof_archive_restores_a_point_across_a_rewrite(
    tmp_path: Path, redis_aof_server: RedisServer, redis_factory: RedisFactory
) -> None:
    source, target = str(tmp_path / "source"), str(tmp_path / "target")
    for path in (source, target):
        assert drkit("init", "--repo", path, env=ENV).returncode == 0
    log = history(source, redis_aof_server, rewrite_at=5)  # an AOF snapshot, a rewrite, then the archive
    from_env = {**ENV, "DRKIT_FROM_PASSWORD": ENV["DRKIT_PASSWORD"]}
    proc = drkit("copy", "--from-repo", source, "--repo", target, "--json", env=from_env)
    assert proc.returncode == 0, proc.stderr.decode()
    copied = json.loads(proc.stdout)
    increments = list((Path(source) / "logs" / "aof").rglob("*_*"))
    assert increments and copied["aof_segments"] >= len(increments)  # the records of both bases too
    assert sorted(p.name for p in (Path(target) / "logs" / "aof").rglob("*_*")) == sorted(p.name for p in increments)
    check = drkit("check", "--read-data", "--repo", target, "--json", env=ENV)
    assert check.returncode == 0, check.stderr.decode()
    assert json.loads(check.stdout)["segments_read"] >= len(increments)

    rewritten = next(w.after for w in log[3 + 5 :])  # the first write after the rewrite finished
    found = find_target(after(log, rewritten - 1e-6), whole=False)
    assert found is not None
    check_restore(target, log, found[0], found[1], tmp_path / "from-copy", redis_factory)

    again = drkit("copy", "--from-repo", source, "--repo", target, "--json", env=from_env)
    assert again.returncode == 0, again.stderr.decode()
    assert json.loads(again.stdout)["aof_segments"] == 0
