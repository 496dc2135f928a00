"""What a restore into a running server (``--to-url``) could lose without a word. Redis 7 functions
(``FUNCTION LOAD``) are part of the data an RDB or AOF holds: carried as a ``--target-dir`` restore
does (oracle: the target's ``FUNCTION DUMP`` equals the source's, and the function runs there;
``DEBUG DIGEST`` for the keys). Keys a target's maxmemory policy evicts during the copy fail it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis
from clirun import drkit, one_line_error
from rediskit import ENV, init_repo
from servers.redis import RedisFactory, RedisServer, digest, fill_bulk
from servers.redis_cluster import Cluster

from drkit.ops.secrets import PassphraseSource
from drkit.ops.session import open_repository
from drkit.sources.redis import restore as rr
from drkit.sources.redis.conn import make_target
from drkit.sources.redis.ops import RestoreOptions, restore_redis
from drkit.sources.redis.process import RedisProcess

LIBRARY = "#!lua name=drkitlib\nredis.register_function('drkit_hello', function(keys, args) return 'hi' end)"

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(tmp_path: Path) -> str:
    return init_repo(tmp_path / "repo")


def _functions(server: RedisServer) -> bytes:
    with server.client() as c:
        return bytes(c.function_dump())


def test_functions_are_restored_into_a_running_server(
    repo: str, redis_server: RedisServer, redis_factory: RedisFactory
) -> None:
    with redis_server.client() as c:
        c.function_load(LIBRARY)
        c.set("k", "v")
    backup = drkit("backup", "redis", "--repo", repo, "--url", redis_server.url, env=ENV)
    assert backup.returncode == 0, backup.stderr.decode()
    with redis_factory() as target:
        proc = drkit("restore", "redis", "--repo", repo, "--to-url", target.url, "--json", env=ENV)
        assert proc.returncode == 0, proc.stderr.decode()
        assert json.loads(proc.stdout)["keys"] == {"0": 1}
        assert digest(target) == digest(redis_server)
        assert _functions(target) == _functions(redis_server)  # was: no library, exit 0
        with target.client() as c:
            assert c.fcall("drkit_hello", 0) == b"hi"
        again = drkit("restore", "redis", "--repo", repo, "--to-url", target.url, "--force", env=ENV)
        assert again.returncode == 0, again.stderr.decode()  # --force replaces the library too
        assert _functions(target) == _functions(redis_server)


def test_functions_are_loaded_into_every_master_of_a_cluster(
    repo: str, redis_server: RedisServer, redis_cluster: Cluster
) -> None:
    with redis_server.client() as c:
        c.function_load(LIBRARY)
        c.set("k", "v")
    assert drkit("backup", "redis", "--repo", repo, "--url", redis_server.url, env=ENV).returncode == 0
    proc = drkit("restore", "redis", "--repo", repo, "--to-url", redis_cluster.url, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    for node in redis_cluster.nodes:  # FCALL runs on the master owning the keys' slot: each needs it
        assert _functions(node) == _functions(redis_server), node.url


def test_keys_evicted_by_the_target_fail_the_restore(
    repo: str, redis_server: RedisServer, redis_factory: RedisFactory
) -> None:
    """A target with a maxmemory eviction policy accepts every RESTORE and evicts keys meanwhile: the
    restore must not report success (was: exit 0, the count of keys sent, fewer keys in the target)."""
    fill_bulk(redis_server, 8)
    assert drkit("backup", "redis", "--repo", repo, "--url", redis_server.url, env=ENV).returncode == 0
    with redis_factory(extra=["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"]) as target:
        proc = drkit("restore", "redis", "--repo", repo, "--to-url", target.url, env=ENV)
        with target.client() as c:
            evicted = int(c.info("stats")["evicted_keys"])
        assert evicted > 0  # the premise: the target did drop keys
        assert proc.returncode == 1, proc.stderr.decode()
        assert "evicted" in one_line_error(proc) and "maxmemory" in one_line_error(proc)


def test_the_throwaway_server_needs_a_password(
    repo: str, redis_server: RedisServer, redis_factory: RedisFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The throwaway redis-server holding the restored data listens on a loopback port: any local user
    could read (or change) it while the keys are copied. It takes a random password, from a 0600
    config file, never from argv (was: no password)."""
    with redis_server.client() as c:
        c.set("secret", "value")
    assert drkit("backup", "redis", "--repo", repo, "--url", redis_server.url, env=ENV).returncode == 0
    seen: list[str] = []
    copy_keys = rr.copy_keys

    def spy(source: RedisProcess, target: Any, **kw: Any) -> dict[int, int]:
        with redis.Redis(host="127.0.0.1", port=source.port) as stranger, pytest.raises(redis.AuthenticationError):
            stranger.get("secret")
        assert source.proc is not None and all(source.password not in a for a in source.argv())
        conf = source.dir / "redis-drkit.conf"
        seen.append(oct(conf.stat().st_mode & 0o777))
        return copy_keys(source, target, **kw)

    monkeypatch.setattr(rr, "copy_keys", spy)
    secret = tmp_path / "pw.txt"
    secret.write_text(ENV["DRKIT_PASSWORD"])
    opened = open_repository(repo, PassphraseSource(file=secret))
    with redis_factory() as target:
        try:
            restore_redis(opened, None, RestoreOptions(to_url=make_target(target.url)))
        finally:
            opened.close()
        with target.client() as c:
            assert c.get("secret") == b"value"
    assert seen == ["0o600"]


def test_a_url_naming_another_db_is_refused(repo: str, redis_server: RedisServer, redis_factory: RedisFactory) -> None:
    """Every db is copied to the same number: a URL's /3 was ignored (exit 0, keys in db 0, and with
    --force keys of db 0 replaced that the operator did not name)."""
    with redis_server.client() as c:
        c.set("k", "from-backup")
    assert drkit("backup", "redis", "--repo", repo, "--url", redis_server.url, env=ENV).returncode == 0
    with redis_factory() as target:
        with target.client() as c:
            c.set("other", "x")
        proc = drkit("restore", "redis", "--repo", repo, "--to-url", target.url.replace("/0", "/3"), "--force", env=ENV)
        assert proc.returncode == 2 and "names db 3" in one_line_error(proc), proc.stderr.decode()
        with target.client() as c:
            assert c.dbsize() == 1 and c.get("k") is None


def test_a_target_holding_functions_is_refused_before_any_key_is_copied(
    repo: str, redis_server: RedisServer, redis_factory: RedisFactory
) -> None:
    with redis_server.client() as c:
        c.function_load(LIBRARY)
        c.set("k", "v")
    assert drkit("backup", "redis", "--repo", repo, "--url", redis_server.url, env=ENV).returncode == 0
    with redis_factory() as target:
        with target.client() as c:
            c.function_load(LIBRARY)
        proc = drkit("restore", "redis", "--repo", repo, "--to-url", target.url, env=ENV)
        assert proc.returncode == 2 and "function libraries" in one_line_error(proc), proc.stderr.decode()
        with target.client() as c:
            assert c.dbsize() == 0  # was: every key copied, then exit 1 on the library's name
