"""The Docker sandbox path: without a reachable engine, `--sandbox docker` fails with one clear line
(exit 2) and `auto` falls back to local processes; with an engine, drills run in postgres:15 /
redis:7 containers (skipped here, with the reason, when no engine is reachable)."""

from __future__ import annotations

from pathlib import Path

import pytest
from drillkit import drill, init_repo, ok, run, write_config
from servers.redis import RedisServer, fill_types

from drkit.drills.sandbox import docker_status

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
STATUS = docker_status()
needs_docker = pytest.mark.skipif(not STATUS.reachable, reason=STATUS.reason)
needs_no_docker = pytest.mark.skipif(STATUS.reachable, reason="a Docker engine is reachable here")


def _redis_job(tmp: Path, server: RedisServer) -> Path:
    fill_types(server, dbs=(0,))
    repo = init_repo(tmp / "repo")
    cfg = write_config(tmp / "drkit.yaml", repo, {"cache": {"source": {"kind": "redis", "url": server.url}}})
    ok(cfg, "job", "run", "cache")
    return cfg


@needs_no_docker
def test_docker_demanded_without_engine_is_one_line_usage_error(tmp_path: Path, redis_server: RedisServer) -> None:
    assert STATUS.reason.startswith("no Docker engine reachable")
    cfg = _redis_job(tmp_path, redis_server)
    proc = run(cfg, "drill", "cache", "--sandbox", "docker", "--json", str(tmp_path / "r.json"))
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.decode().splitlines() if ln.startswith("drkit: error:")]
    assert len(lines) == 1 and "--sandbox docker: no Docker engine reachable" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr.decode()


@needs_no_docker
def test_auto_falls_back_to_local(tmp_path: Path, redis_server: RedisServer) -> None:
    cfg = _redis_job(tmp_path, redis_server)
    proc = run(cfg, "drill", "cache", "--sandbox", "auto", "--json", str(tmp_path / "r.json"))
    assert proc.returncode == 0, proc.stderr.decode()
    assert '"sandbox": "local"' in (tmp_path / "r.json").read_text()


@needs_docker
def test_redis_drill_in_a_container(tmp_path: Path, redis_server: RedisServer) -> None:
    cfg = _redis_job(tmp_path, redis_server)
    proc = run(cfg, "drill", "cache", "--sandbox", "docker", "--json", str(tmp_path / "r.json"))
    assert proc.returncode == 0, proc.stderr.decode()
    assert '"sandbox": "docker"' in (tmp_path / "r.json").read_text()


@needs_docker
def test_files_drill_with_docker_engine_uses_a_volume(tmp_path: Path) -> None:
    src = tmp_path / "data"
    src.mkdir()
    (src / "f").write_text("x")
    cfg = write_config(tmp_path / "drkit.yaml", init_repo(tmp_path / "repo"),
                       {"f": {"source": {"kind": "files", "paths": [str(src)]}}})
    ok(cfg, "job", "run", "f")
    code, report, _, _ = drill(cfg, tmp_path, "f")
    assert code == 0, report
