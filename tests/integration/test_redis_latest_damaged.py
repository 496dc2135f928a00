"""`drkit restore redis` (default: latest) when the newest Redis snapshot's manifest is damaged: it used
to restore the RDB before it with exit 0; it refuses (exit 13) naming the damaged snapshot, and with
--skip-damaged restores the older RDB, which Redis itself (DEBUG DIGEST and expiry times) finds equal
to the source when that RDB was taken."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirun import drkit, one_line_error
from servers.redis import RedisServer, digest, expiries, fill_bulk, fill_types, start_redis
from test_redis_oracle import ENV, change_everything

pytestmark = pytest.mark.integration


def test_redis_latest_refuses_a_damaged_newest_snapshot(redis_server: RedisServer, tmp_path: Path) -> None:
    repo = str(tmp_path / "repo")
    assert drkit("init", "--repo", repo, env=ENV).returncode == 0
    fill_types(redis_server)
    fill_bulk(redis_server, 3)
    expected = digest(redis_server), expiries(redis_server)
    assert drkit("backup", "redis", "--repo", repo, "--url", redis_server.url, env=ENV).returncode == 0
    change_everything(redis_server)
    proc = drkit("backup", "redis", "--repo", repo, "--url", redis_server.url, "--json", env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    newest = json.loads(proc.stdout)["snapshot"]
    (Path(repo) / "snapshots" / newest).write_bytes(b"damaged in the bucket")

    refused = drkit("restore", "redis", "--repo", repo, "--target-dir", str(tmp_path / "a"), env=ENV)
    assert refused.returncode == 13 and newest[:16] in one_line_error(refused)
    ok = drkit("restore", "redis", "--repo", repo, "--skip-damaged", "--target-dir", str(tmp_path / "b"), env=ENV)
    assert ok.returncode == 0, ok.stderr.decode()
    with start_redis(tmp_path / "b") as loaded:
        assert (digest(loaded), expiries(loaded)) == expected
