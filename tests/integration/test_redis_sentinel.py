"""Sentinel discovery: `--sentinel host:port --master-name NAME` finds the current primary."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import redis
from clirun import drkit, one_line_error
from servers.redis import RedisServer, digest, fill_types, free_port

ENV = {"DRKIT_PASSWORD": "pw-for-redis-tests"}

pytestmark = pytest.mark.integration


@pytest.fixture
def sentinel(redis_server: RedisServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\nsentinel monitor drkitmaster 127.0.0.1 {redis_server.port} 1\n"
    )
    proc = subprocess.Popen(
        ["redis-server", str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=port).execute_command("SENTINEL", "get-master-addr-by-name", "drkitmaster"):
                    break
            except redis.ConnectionError:
                pass
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_backup_through_sentinel(tmp_path: Path, redis_server: RedisServer, sentinel: str) -> None:
    repo = str(tmp_path / "repo")
    assert drkit("init", "--repo", repo, env=ENV).returncode == 0
    fill_types(redis_server, dbs=(0,))
    proc = drkit(
        "backup",
        "redis",
        "--repo",
        repo,
        "--url",
        "redis://ignored:1/0",
        "--sentinel",
        sentinel,
        "--master-name",
        "drkitmaster",
        "--json",
        env=ENV,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["meta"]["tcp_port"] == redis_server.port
    proc = drkit(
        "backup",
        "redis",
        "--repo",
        repo,
        "--url",
        "redis://ignored:1/0",
        "--sentinel",
        sentinel,
        "--master-name",
        "nosuch",
        env=ENV,
    )
    assert proc.returncode == 14 and "no Sentinel knows" in one_line_error(proc)


def test_sentinel_needs_no_url(tmp_path: Path, redis_server: RedisServer, sentinel: str) -> None:
    """`--sentinel … --master-name …` alone finds the primary (it demanded a dummy --url); restore
    into the primary the Sentinel names works the same way."""
    repo = str(tmp_path / "repo")
    assert drkit("init", "--repo", repo, env=ENV).returncode == 0
    fill_types(redis_server, dbs=(0,))
    expected = digest(redis_server)
    via = ("--sentinel", sentinel, "--master-name", "drkitmaster")
    proc = drkit("backup", "redis", "--repo", repo, *via, "--json", env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["meta"]["tcp_port"] == redis_server.port
    redis_server.client().flushall()
    proc = drkit("restore", "redis", "--repo", repo, *via, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    assert digest(redis_server) == expected
    proc = drkit("backup", "redis", "--repo", repo, "--sentinel", sentinel, env=ENV)
    assert proc.returncode == 2 and "--sentinel needs --master-name" in one_line_error(proc)


def test_job_through_sentinel_needs_no_url(tmp_path: Path, redis_server: RedisServer, sentinel: str) -> None:
    """A job's Redis source can name Sentinels instead of a URL."""
    import yaml

    repo = str(tmp_path / "repo")
    assert drkit("init", "--repo", repo, env=ENV).returncode == 0
    fill_types(redis_server, dbs=(0,))
    source = {"kind": "redis", "sentinels": [sentinel], "master_name": "drkitmaster"}
    doc = {
        "repositories": {"default": {"url": repo, "passphrase": {"env": "DRKIT_PASSWORD"}}},
        "jobs": {"cache": {"source": source}},
    }
    config = tmp_path / "drkit.yaml"
    config.write_text(yaml.safe_dump(doc))
    proc = drkit("--config", str(config), "job", "run", "cache", env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    listing = json.loads(drkit("snapshots", "--json", "--repo", repo, env=ENV).stdout)
    assert [s["meta"]["tcp_port"] for s in listing] == [redis_server.port]
