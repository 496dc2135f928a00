"""Redis connections: password, ACL user and TLS work; a wrong password and an unreachable server
are one-line errors (exit 14); a server killed mid-transfer leaves no snapshot; the Redis password
never appears in any output or in the repository's metadata."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from clirun import DRKIT, drkit, one_line_error
from rediskit import ENV, init_repo
from servers.redis import PASSWORD, RedisFactory, RedisServer, fill_types, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(tmp_path: Path) -> str:
    return init_repo(tmp_path / "repo")


def _snapshots(repo: str) -> list[dict]:
    return json.loads(drkit("snapshots", "--json", "--repo", repo, env=ENV).stdout)


def _backup_restore_ok(repo: str, server: RedisServer, tmp_path: Path, *extra: str) -> list[bytes]:
    """Back up and restore via --to-url into the same kind of server; returns every output."""
    fill_types(server, dbs=(0,))
    env = {**ENV, **server.env()}
    b = drkit("backup", "redis", "--repo", repo, "--url", server.url, *extra, env=env)
    assert b.returncode == 0, b.stderr.decode()
    server.client().flushall()
    r = drkit("restore", "redis", "--repo", repo, "--to-url", server.url, *extra, env=env)
    assert r.returncode == 0, r.stderr.decode()
    assert server.client().get("s:1") == b"string-0"
    return [b.stdout, b.stderr, r.stdout, r.stderr]


def test_password_server(repo: str, redis_password_server: RedisServer, tmp_path: Path) -> None:
    _backup_restore_ok(repo, redis_password_server, tmp_path)


def test_acl_user_with_password_file(repo: str, redis_acl_server: RedisServer, tmp_path: Path) -> None:
    pw_file = tmp_path / "redis-pw"
    pw_file.write_text(PASSWORD + "\n")
    fill_types(redis_acl_server, dbs=(0,))
    proc = drkit(
        "backup",
        "redis",
        "--repo",
        repo,
        "--url",
        redis_acl_server.url,
        "--redis-user",
        "backup",
        "--redis-password-file",
        str(pw_file),
        env=ENV,
    )
    assert proc.returncode == 0, proc.stderr.decode()


def test_tls_server(repo: str, redis_tls_server: RedisServer, tmp_path: Path) -> None:
    _backup_restore_ok(repo, redis_tls_server, tmp_path, "--tls-ca", str(redis_tls_server.tls_cert))


def test_tls_without_trusted_ca_is_refused(repo: str, redis_tls_server: RedisServer) -> None:
    proc = drkit("backup", "redis", "--repo", repo, "--url", redis_tls_server.url, env=ENV)
    assert proc.returncode == 14 and "unreachable" in one_line_error(proc)


def test_wrong_password_is_exit_14(repo: str, redis_password_server: RedisServer) -> None:
    proc = drkit(
        "backup",
        "redis",
        "--repo",
        repo,
        "--url",
        redis_password_server.url,
        env={**ENV, "DRKIT_REDIS_PASSWORD": "not-the-password"},
    )
    assert proc.returncode == 14
    assert "refused the login" in one_line_error(proc)
    proc = drkit("backup", "redis", "--repo", repo, "--url", redis_password_server.url, env=ENV)  # none given
    assert proc.returncode == 14 and "refused the login" in one_line_error(proc)
    assert _snapshots(repo) == []


def test_unreachable_server_is_exit_14(repo: str) -> None:
    proc = drkit("backup", "redis", "--repo", repo, "--url", f"redis://127.0.0.1:{free_port()}/0", env=ENV)
    assert proc.returncode == 14
    assert "is unreachable" in one_line_error(proc)


def test_password_never_in_outputs(repo: str, redis_password_server: RedisServer, tmp_path: Path) -> None:
    outputs = _backup_restore_ok(repo, redis_password_server, tmp_path)
    url_with_pw = redis_password_server.url.replace("//", f"//:{PASSWORD}@")
    outputs.append(drkit("backup", "redis", "--repo", repo, "--url", url_with_pw, "--json", env=ENV).stdout)
    wrong = url_with_pw.replace(PASSWORD, PASSWORD[::-1])
    failed = drkit("--debug", "backup", "redis", "--repo", repo, "--url", wrong, env=ENV)
    assert failed.returncode == 14
    outputs += [failed.stdout, failed.stderr]
    outputs.append(drkit("snapshots", "--json", "--repo", repo, env=ENV).stdout)
    outputs.append(drkit("redis", "windows", "--json", "--repo", repo, env=ENV).stdout)
    blob = b"\n".join(outputs)
    assert PASSWORD.encode() not in blob and PASSWORD[::-1].encode() not in blob


def _sending(server: RedisServer) -> bool:
    """The RDB is on its way to drkit: being streamed (diskless) or sent from disk."""
    info = server.client().info("replication")
    return any(isinstance(v, dict) and v.get("state") in ("send_bulk", "wait_bgsave") for v in info.values())


def test_server_killed_mid_transfer_leaves_no_snapshot(repo: str, redis_factory: RedisFactory) -> None:
    with redis_factory(extra=["--enable-debug-command", "yes", "--rdbcompression", "no"]) as server:
        server.client().execute_command("DEBUG", "POPULATE", 600_000, "key", 1000)
        proc = subprocess.Popen(
            [*DRKIT, "backup", "redis", "--repo", repo, "--url", server.url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **ENV},
        )
        deadline = time.monotonic() + 60
        while not _sending(server) and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.5)  # well inside a transfer of 600 MB
        server.kill()
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 14, err.decode()
    line = one_line_error(subprocess.CompletedProcess([], proc.returncode, b"", err))
    assert "during RDB transfer" in line and "no snapshot written" in line
    assert _snapshots(repo) == []
