"""Drills in real containers (``--sandbox docker``) on a real Docker engine: the engine and the
``postgres:15`` / ``redis:7`` images come from ``tests/servers/docker.py`` (a private dockerd and
stand-in images built from Debian's packages when none is reachable). In CI these tests fail, not
skip, when no engine can be had. Without an engine, ``--sandbox docker`` is one clear line (exit 2)
and ``auto`` falls back to local processes."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit
from drillkit import ENV, init_repo, ok, write_config
from servers.docker import DockerEngine
from servers.postgres import PgServer
from servers.redis import RedisServer, fill_types

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/drkit-test-docker.sock"}


def _drill(cfg: Path, tmp: Path, job: str, env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[bytes],
                                                                                    Any]:
    report = tmp / f"{job}.json"
    proc = drkit("--config", str(cfg), "drill", job, "--sandbox", "docker", "--json", str(report), *args,
                 env={**ENV, **env}, timeout=600)
    assert "Traceback" not in proc.stderr.decode(), proc.stderr.decode()
    return proc, (json.loads(report.read_text()) if report.exists() else {})


def _redis_job(tmp: Path, server: RedisServer, extra: dict[str, object] | None = None) -> Path:
    fill_types(server, dbs=(0,))
    repo = init_repo(tmp / "repo")
    job = {"source": {"kind": "redis", "url": server.url}, **(extra or {})}
    cfg = write_config(tmp / "drkit.yaml", repo, {"cache": job})
    ok(cfg, "job", "run", "cache")
    return cfg


def _containers(engine: DockerEngine) -> list[str]:
    client = engine.client()
    try:
        return [c.id for c in client.containers.list(all=True, filters={"label": "drkit.sandbox"})]
    finally:
        client.close()


def test_docker_demanded_without_engine_is_one_line_usage_error(tmp_path: Path, redis_server: RedisServer) -> None:
    cfg = _redis_job(tmp_path, redis_server)
    proc, _ = _drill(cfg, tmp_path, "cache", NO_ENGINE)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.decode().splitlines() if ln.startswith("drkit: error:")]
    assert len(lines) == 1 and "--sandbox docker: no Docker engine reachable" in lines[0], proc.stderr


def test_auto_falls_back_to_local(tmp_path: Path, redis_server: RedisServer) -> None:
    cfg = _redis_job(tmp_path, redis_server)
    proc = drkit("--config", str(cfg), "drill", "cache", "--sandbox", "auto", "--json", str(tmp_path / "r.json"),
                 env={**ENV, **NO_ENGINE})
    assert proc.returncode == 0, proc.stderr.decode()
    (r,) = json.loads((tmp_path / "r.json").read_text())["drills"]
    assert r["sandbox"] == "local"


def test_redis_drill_in_a_container(tmp_path: Path, redis_server: RedisServer, docker_engine: DockerEngine) -> None:
    cfg = _redis_job(tmp_path, redis_server)
    proc, report = _drill(cfg, tmp_path, "cache", docker_engine.env)
    assert proc.returncode == 0, proc.stderr.decode() + json.dumps(report)
    (r,) = report["drills"]
    assert r["sandbox"] == "docker"
    checks = {c["name"]: c["ok"] for c in r["checks"]}
    assert checks and all(checks.values()), checks
    assert _containers(docker_engine) == []


def test_missing_image_is_one_line_and_exit_2(tmp_path: Path, redis_server: RedisServer,
                                              docker_engine: DockerEngine) -> None:
    cfg = _redis_job(tmp_path, redis_server, {"drill": {"images": {"redis": "drkit-test/absent:1"}}})
    proc, _ = _drill(cfg, tmp_path, "cache", docker_engine.env)
    assert proc.returncode == 2, proc.stderr.decode()
    lines = [ln for ln in proc.stderr.decode().splitlines() if ln.startswith("drkit: error:")]
    assert len(lines) == 1 and "drkit-test/absent:1" in lines[0], proc.stderr
    assert _containers(docker_engine) == []


def test_postgres_logical_drill_in_a_container(tmp_path: Path, pg_server: PgServer,
                                               docker_engine: DockerEngine) -> None:
    db = "drill_docker"
    pg_server.psql(f"DROP DATABASE IF EXISTS {db}")
    pg_server.psql(f"CREATE DATABASE {db}")
    pg_server.psql("CREATE TABLE t (id int primary key, v text); "
                   "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 2000) g", dbname=db)
    job = {"source": {"kind": "postgres", "mode": "logical", "dsn": pg_server.db_url(db),
                      "password": {"file": str(pg_server.db_password_file)}},
           "checks": [{"sql": "SELECT count(*) FROM t", "expect": "2000"}]}
    cfg = write_config(tmp_path / "drkit.yaml", init_repo(tmp_path / "repo"), {"app": job})
    ok(cfg, "job", "run", "app")
    proc, report = _drill(cfg, tmp_path, "app", docker_engine.env)
    assert proc.returncode == 0, proc.stderr.decode() + json.dumps(report)
    (r,) = report["drills"]
    assert r["sandbox"] == "docker"
    assert _containers(docker_engine) == []


def test_redis_point_in_time_drill_in_a_container(tmp_path: Path, redis_aof_server: RedisServer,
                                                  docker_engine: DockerEngine) -> None:
    """AOF point in time, restored and replayed in a redis:7 container: the state at T is known
    independently (what was written before and after it), and the user checks compare it."""
    c = redis_aof_server.client()
    for i in range(200):
        c.set(f"before:{i}", i)
    at = time.time()
    while int(time.time()) == int(at):  # AOF timestamps have whole seconds: T is the second after
        time.sleep(0.02)
    t = datetime.fromtimestamp(int(time.time()), UTC)
    while time.time() < t.timestamp() + 1.05:
        time.sleep(0.02)
    c.set("after", "x")
    repo = init_repo(tmp_path / "repo")
    assert drkit("redis", "aof-archive", "--repo", repo, "--aof-dir", str(redis_aof_server.aof_dir), "--once",
                 env=ENV).returncode == 0
    checks = [{"redis": "DBSIZE", "expect": "200"}, {"redis": "GET before:199", "expect": "199"},
              {"redis": "EXISTS after", "expect": "0"}]
    job = {"source": {"kind": "redis", "url": redis_aof_server.url, "aof_dir": str(redis_aof_server.aof_dir)},
           "checks": checks}
    cfg = write_config(tmp_path / "drkit.yaml", repo, {"cache": job})
    proc, report = _drill(cfg, tmp_path, "cache", docker_engine.env, "--point-in-time",
                          t.isoformat().replace("+00:00", "Z"))
    (r,) = report["drills"]
    assert proc.returncode == 0, proc.stderr.decode() + json.dumps(r)
    assert r["sandbox"] == "docker"
    assert {"user.redis[0]", "user.redis[1]", "user.redis[2]"} <= {x["name"] for x in r["checks"] if x["ok"]}
    assert _containers(docker_engine) == []
