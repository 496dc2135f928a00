"""Redis drill end to end against a real redis-server: RDB backup by job, drill into a local
sandbox server, key counts and sampled values/TTLs compared with the backup-time facts."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clirun import drkit
from drillkit import ENV, drill, init_repo, ok, write_config
from servers.redis import RedisServer, fill_types
from servers.redis_cluster import Cluster, fill_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_redis_drill_passes_and_counts_match(tmp_path: Path, redis_server: RedisServer) -> None:
    fill_types(redis_server)
    redis_server.client().set("config:version", "42")
    repo = init_repo(tmp_path / "repo")
    job = {
        "source": {"kind": "redis", "url": redis_server.url},
        "checks": [{"redis": "GET config:version", "expect": "42"}],
        "targets": {"rpo": "10min", "rto": "5min"},
    }
    cfg = write_config(tmp_path / "drkit.yaml", repo, {"cache": job})
    before = time.time()
    ok(cfg, "job", "run", "cache")
    code, report, junit, _ = drill(cfg, tmp_path, "cache")
    (result,) = report["drills"]
    assert code == 0, result
    checks = {c["name"]: c for c in result["checks"]}
    assert {"redis.key_counts", "redis.sample", "user.redis[0]", "canary"} <= set(checks)
    assert "sampled keys match" in checks["redis.sample"]["detail"]
    assert list(result["phases"]) == ["open", "restore", "start", "verify"]
    assert abs(result["rto_seconds"] - sum(result["phases"].values())) <= 0.003  # back to back: they are the RTO
    assert 0 <= result["rpo_catalog_seconds"] <= result["rpo_verified_seconds"] <= time.time() - before + 1
    assert "<failure" not in junit


def test_redis_drill_of_an_older_snapshot_uses_its_own_facts(tmp_path: Path, redis_server: RedisServer) -> None:
    """Each snapshot carries its own facts: the first backup still verifies after the source changed,
    and its verified RPO is older than the latest one's."""
    fill_types(redis_server, dbs=(0,))
    repo = init_repo(tmp_path / "repo")
    cfg = write_config(tmp_path / "drkit.yaml", repo, {"cache": {"source": {"kind": "redis", "url": redis_server.url}}})
    ok(cfg, "job", "run", "cache")
    first = json.loads(ok(cfg, "snapshots", "--repo", repo, "--json"))[0]["id"]
    time.sleep(1.1)
    redis_server.client().delete("s:1", "l:1")
    ok(cfg, "job", "run", "cache")
    code, old, _, _ = drill(cfg, tmp_path, "cache", "--snapshot", first)
    assert code == 0, old
    code, new, _, _ = drill(cfg, tmp_path, "cache")
    assert code == 0, new
    (o,), (n,) = old["drills"], new["drills"]
    assert o["snapshot_id"] == first != n["snapshot_id"]

    # the canary each restored (drill start − verified RPO): the first backup's is older. Comparing the RPOs
    # themselves also counted the time between the two drills' starts (flaky under load)
    def canary(r: dict) -> float:  # type: ignore[type-arg]
        return datetime.fromisoformat(r["started_at"]).timestamp() - r["rpo_verified_seconds"]

    assert canary(n) > canary(o) + 1


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _next_second() -> None:
    """Past the next whole second: AOF timestamp annotations have a resolution of one second."""
    now = time.time()
    time.sleep(int(now) + 1 - now + 0.1)


def _settle(second: float) -> None:
    """Sleep until a capture (less drkit's fsync slack of 2 s) proves the AOF holds every write of ``second``."""
    time.sleep(max(0.0, second + 3.2 - time.time()))


def test_redis_point_in_time_drill_before_the_jobs_first_snapshot(
    tmp_path: Path, redis_aof_server: RedisServer
) -> None:
    """Issue 19: a time before the job's first snapshot, in the AOF archive (recorded by `drkit redis
    aof-archive` under the source's name, before an AOF rewrite), restores with `drkit restore redis
    --point-in-time`; the drill must reach it too. No job run wrote a canary before that time and no
    facts exist for an instant: the report says so instead of failing."""
    c = redis_aof_server.client()
    c.set("w1", "one")
    t_before = float(int(time.time()) + 1)  # a whole second after w1 (AOF times are whole seconds)
    _settle(t_before - 1)  # the archive's capture (less its 2 s fsync slack) proves w1's second complete
    repo = init_repo(tmp_path / "repo")
    archive = ["redis", "aof-archive", "--repo", repo, "--aof-dir", str(redis_aof_server.aof_dir), "--once"]
    assert drkit(*archive, env=ENV).returncode == 0
    c.bgrewriteaof()
    while c.info("persistence")["aof_rewrite_in_progress"]:
        time.sleep(0.05)
    _next_second()
    c.set("w2", "two")
    assert drkit(*archive, env=ENV).returncode == 0
    checks = [
        {"redis": "DBSIZE", "expect": "1"},
        {"redis": "GET w1", "expect": "one"},
        {"redis": "EXISTS w2", "expect": "0"},
    ]  # the source's state at t_before, known independently
    job = {
        "source": {"kind": "redis", "url": redis_aof_server.url, "aof_dir": str(redis_aof_server.aof_dir)},
        "checks": checks,
    }
    cfg = write_config(tmp_path / "drkit.yaml", repo, {"cache": job})
    ok(cfg, "job", "run", "cache")
    first = json.loads(ok(cfg, "snapshots", "--repo", repo, "--json"))[0]
    assert datetime.fromisoformat(first["time"]).timestamp() > t_before + 1

    restore = drkit(
        "restore",
        "redis",
        "--repo",
        repo,
        "--point-in-time",
        _iso(t_before),
        "--target-dir",
        str(tmp_path / "restored"),
        env=ENV,
    )
    assert restore.returncode == 0, restore.stderr.decode()  # what restore can do, the drill must do
    code, report, junit, _ = drill(cfg, tmp_path, "cache", "--point-in-time", _iso(t_before))
    (r,) = report["drills"]
    assert code == 0, (r["checks"], r["targets"], r.get("not_verified"))
    assert {c["name"] for c in r["checks"]} == {
        "redis.accepts_connections",
        "user.redis[0]",
        "user.redis[1]",
        "user.redis[2]",
    }
    assert sorted(i.split(":")[0] for i in r["not_verified"]) == ["canary", "facts"], r["not_verified"]
    assert "<failure" not in junit
    assert r["point_reached"] == r["point_in_time"] == _iso(t_before)  # a whole second is reached exactly

    # inside a second: the drill reaches (and records) the start of that second, never a write after T
    inside = datetime.fromtimestamp(t_before + 0.5, UTC).isoformat().replace("+00:00", "Z")
    code, report, _, _ = drill(cfg, tmp_path, "cache", "--point-in-time", inside)
    (r,) = report["drills"]
    assert code == 0, (r["checks"], r.get("not_verified"))
    assert r["point_reached"] == _iso(t_before), r
    assert any(i.startswith("point in time: AOF timestamps are whole seconds") for i in r["not_verified"])

    # after the job's run: its canary is expected and found; the user checks see the later state
    job["checks"] = [{"redis": "GET w2", "expect": "two"}]
    cfg = write_config(tmp_path / "drkit.yaml", repo, {"cache": job})
    _settle(time.time())  # the job run's canary: its second complete in the next archive
    assert drkit(*archive, env=ENV).returncode == 0
    windows = json.loads(ok(cfg, "redis", "windows", "--name", "redis", "--json", "--repo", repo))
    code, report, _, _ = drill(cfg, tmp_path, "cache", "--point-in-time", windows[-1]["to"])
    (r,) = report["drills"]
    assert code == 0, (r["checks"], r.get("not_verified"))
    assert {"canary", "user.redis[0]"} <= {c["name"] for c in r["checks"]}
    assert r["rpo_verified_seconds"] is not None


def test_redis_cluster_snapshot_drill_is_not_a_pass(tmp_path: Path, redis_cluster: Cluster) -> None:
    """A cluster snapshot restores as one directory per shard: the sandbox server started on the
    restore directory holds none of it. A point-in-time drill (facts not compared) with no canary and
    no user check passed on that empty server (exit 0); now it fails, saying why."""
    fill_cluster(redis_cluster, 300)
    repo = init_repo(tmp_path / "repo")
    job = {"source": {"kind": "redis", "url": redis_cluster.url}, "canary": {"enabled": False}}
    cfg = write_config(tmp_path / "drkit.yaml", repo, {"shop": job})
    ok(cfg, "job", "run", "shop")
    assert json.loads(ok(cfg, "snapshots", "--repo", repo, "--json"))[0]["meta"]["mode"] == "cluster"
    for args in (("--point-in-time", _iso(time.time() + 1)), ()):
        code, report, junit, _ = drill(cfg, tmp_path, "shop", *args)
        (r,) = report["drills"]
        assert code != 0, (args, r["checks"])
        failed = [c for c in r["checks"] if not c["ok"]]
        assert [c["name"] for c in failed] == ["redis.cluster"], (args, failed)
        assert "Redis Cluster" in failed[0]["detail"] and "<failure" in junit
