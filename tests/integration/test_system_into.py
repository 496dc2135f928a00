"""`restore --system --into JOB=redis://…`: the server is checked (a Redis URL, reachable, empty) before any
component is written, and a password in the URL never reaches the output. The loaded server is compared with
the source through Redis's own DEBUG DIGEST."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from clirun import drkit, one_line_error
from servers.redis import PASSWORD, RedisServer, digest

pytestmark = pytest.mark.integration
ENV = {"SYSTEM_TEST_PASS": "pw-for-system-into"}


def _ok(config: Path, *args: str) -> bytes:
    proc = drkit("--config", str(config), *args, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
    return proc.stdout


@pytest.fixture
def site(tmp_path: Path, redis_server: RedisServer) -> Path:
    """A system of a Redis job and a files job, both backed up; the config."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_text("a\n")
    with redis_server.client() as c:
        c.set("order:1", "paid")
        c.rpush("queue", "job-1", "job-2")
    repo = tmp_path / "repo"
    assert drkit("init", "--repo", str(repo), env={"DRKIT_PASSWORD": ENV["SYSTEM_TEST_PASS"]}).returncode == 0
    doc = {
        "repositories": {"default": {"url": str(repo), "passphrase": {"env": "SYSTEM_TEST_PASS"}}},
        "jobs": {
            "cache": {"source": {"kind": "redis", "url": redis_server.url}},
            "www": {"source": {"kind": "files", "paths": [str(tree)]}},
        },
        "systems": {"site": {"jobs": ["cache", "www"], "max_skew": "1h"}},
    }
    config = tmp_path / "drkit.yaml"
    config.write_text(yaml.safe_dump(doc))
    _ok(config, "job", "run", "cache")
    _ok(config, "job", "run", "www")
    return config


def _restore(config: Path, out: Path, into: str, *more: str) -> subprocess.CompletedProcess[bytes]:
    when = datetime.now().astimezone().isoformat()  # after both backups ended
    proc = drkit(
        "--config", str(config), "restore", "--system", "site", "--point-in-time", when, "--target-dir", str(out),
        "--into", f"cache={into}", *more, env=ENV, timeout=600,
    )  # fmt: skip
    return proc


def test_a_password_in_the_url_is_not_shown_and_the_server_holds_the_source(
    site: Path, tmp_path: Path, redis_server: RedisServer, redis_password_server: RedisServer
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{redis_password_server.port}"
    for n, more in enumerate([("--json",), ()]):
        proc = _restore(site, tmp_path / f"out{n}", url, *more)
        out, err = proc.stdout, proc.stderr
        assert proc.returncode == 0, err.decode() + out.decode()
        assert PASSWORD.encode() not in out + err
        assert digest(redis_password_server) == digest(redis_server)  # every key, value and expiry
        if more:
            doc = json.loads(out)
            assert {c["job"]: c["target"] for c in doc["components"]}["cache"] == url.replace(f":{PASSWORD}@", "")
        with redis_password_server.client() as c:
            c.flushall()


@pytest.mark.parametrize("bad", ["http://127.0.0.1:1", "full"])
def test_a_bad_server_is_refused_before_anything_is_written(
    site: Path, tmp_path: Path, redis_password_server: RedisServer, bad: str
) -> None:
    """Another scheme, or a server that already holds keys: exit 2, and the files component is not written."""
    url = bad
    if bad == "full":
        with redis_password_server.client() as c:
            c.set("someone-elses", "data")
        url = f"redis://:{PASSWORD}@127.0.0.1:{redis_password_server.port}"
    out = tmp_path / "out"
    proc = _restore(site, out, url)
    assert proc.returncode == 2, proc.stderr.decode()
    assert PASSWORD not in one_line_error(proc)
    assert not out.exists(), sorted(str(p) for p in out.rglob("*"))
