"""`drkit drill --system NAME --sandbox docker`: a system of PostgreSQL (logical), Redis and files components
drilled at once, each in its own container on a real Docker engine (``tests/servers/docker.py``: the
postgres:15 / redis:7 / python stand-ins). The system passes with one check per component, every
component ran in a container (the engine's event log), and no container or volume is left behind.

Oracles beside drkit's own checks: the row count and the Redis keys known from the source, asserted by
user checks run against the restored containers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from clirun import drkit
from drillkit import ENV, PASS_ENV, init_repo, ok
from servers.docker import DockerEngine, ensure_image
from servers.postgres import PgServer
from servers.redis import RedisServer

from drkit.sources.files.drills.sandbox import DEFAULT_IMAGE

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
KINDS = ("postgres", "redis", "files")


def _config(tmp: Path, pg: PgServer, redis: RedisServer) -> Path:
    db = "drill_system_docker"
    pg.psql(f"DROP DATABASE IF EXISTS {db}")
    pg.psql(f"CREATE DATABASE {db}")
    pg.psql(
        "CREATE TABLE t (id int primary key, v text); "
        "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 700) g",
        dbname=db,
    )
    client = redis.client()
    client.flushall()
    for i in range(150):
        client.set(f"order:{i}", i)
    tree = tmp / "tree"
    (tree / "sub").mkdir(parents=True)
    for i in range(20):
        (tree / "sub" / f"f{i}.txt").write_text(f"line {i}\n" * (i + 1))
    jobs = {
        "app": {
            "source": {
                "kind": "postgres",
                "mode": "logical",
                "dsn": pg.db_url(db),
                "password": {"file": str(pg.db_password_file)},
            },
            "checks": [{"sql": "SELECT count(*) FROM t", "expect": "700"}],
        },
        "cache": {
            "source": {"kind": "redis", "url": redis.url},
            "checks": [{"redis": "GET order:0", "expect": "0"}, {"redis": "GET order:149", "expect": "149"}],
        },
        "www": {"source": {"kind": "files", "paths": [str(tree)]}, "checks": [{"path_exists": "tree/sub/f19.txt"}]},
    }
    doc = {
        "repositories": {"default": {"url": init_repo(tmp / "repo"), "passphrase": {"env": PASS_ENV}}},
        "jobs": jobs,
        "systems": {"shop": {"jobs": list(jobs)}},
    }
    cfg = tmp / "drkit.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    for job in jobs:
        ok(cfg, "job", "run", job)
    return cfg


def _inventory(engine: DockerEngine) -> tuple[set[str], set[str]]:
    client = engine.client()
    try:
        return {c.id for c in client.containers.list(all=True)}, {v.name for v in client.volumes.list()}
    finally:
        client.close()


def _created_since(engine: DockerEngine, since: float) -> dict[str, int]:
    """Sandbox containers the engine created since ``since``, by kind (its event log)."""
    client = engine.client()
    try:
        events = client.events(
            since=int(since),
            until=int(time.time()) + 1,
            decode=True,
            filters={"type": "container", "event": "create", "label": "drkit.sandbox"},
        )
        created: dict[str, int] = {}
        for e in events:
            kind = e["Actor"]["Attributes"]["drkit.sandbox"]
            created[kind] = created.get(kind, 0) + 1
        return created
    finally:
        client.close()


def test_system_drill_in_containers(
    tmp_path: Path, pg_server: PgServer, redis_server: RedisServer, docker_engine: DockerEngine
) -> None:
    ensure_image(docker_engine, DEFAULT_IMAGE, "python")
    cfg = _config(tmp_path, pg_server, redis_server)
    before = _inventory(docker_engine)
    t0 = time.time()
    report = tmp_path / "system.json"
    proc = drkit(
        "--config",
        str(cfg),
        "drill",
        "--system",
        "shop",
        "--sandbox",
        "docker",
        "--json",
        str(report),
        env={**ENV, **docker_engine.env},
        timeout=600,
    )
    err = proc.stderr.decode()
    assert "Traceback" not in err, err
    assert report.exists(), err
    system, *parts = json.loads(report.read_text())["drills"]
    assert proc.returncode == 0, err + json.dumps(system)
    assert system["job"] == "shop" and system["source_kind"] == "system" and system["sandbox"] == "docker"
    by_job = {p["job"]: p for p in parts}
    assert sorted(by_job) == ["app", "cache", "www"]
    assert {p["source_kind"] for p in parts} == set(KINDS)
    component = {c["name"]: c for c in system["checks"] if c["name"].startswith("component:")}
    assert sorted(component) == ["component:app", "component:cache", "component:www"]
    assert all(c["ok"] for c in component.values()), component
    for part in parts:
        assert part["sandbox"] == "docker", part
        assert part["checks"] and all(c["ok"] for c in part["checks"]), part["checks"]
    assert {"user.sql[0]"} <= {c["name"] for c in by_job["app"]["checks"]}
    assert {"user.redis[0]", "user.redis[1]"} <= {c["name"] for c in by_job["cache"]["checks"]}
    assert "files.container" in {c["name"] for c in by_job["www"]["checks"]}
    created = _created_since(docker_engine, t0)
    assert all(created.get(kind, 0) >= 1 for kind in KINDS), created  # each component ran in a container
    assert _inventory(docker_engine) == before  # no container, no volume left behind
