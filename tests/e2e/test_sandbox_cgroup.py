"""Sandbox containers run under drkit's own cgroup where the engine allows it (cgroup v1, cgroupfs
driver, engine on this host), so a restored server in a container is scheduled like the local
sandbox's server process instead of sharing one CPU weight with every container of the host
(drkit/drills/sandbox/cgroup.py). Checked on the real engine of tests/servers/docker.py: the
container's process is in a cgroup below this process's own; with DRKIT_SANDBOX_CGROUP_PARENT empty
it is where the engine puts it by default. drkit in a container of its own (a private cgroup namespace,
the engine's socket mounted) keeps the engine's default: its "/" is not the host's root."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from drillkit import ENV, init_repo, ok, write_config
from servers.docker import DockerEngine, ensure_image
from servers.redis import RedisServer, fill_types

from drkit.drills.sandbox.cgroup import CGROUP_PARENT_ENV, _engine_driver, choose_parent, cpu_cgroup
from drkit.sources.redis.drills.sandbox import docker_redis

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

V1 = "12:pids:/\n4:cpu,cpuacct:/drkit.service\n3:cpuset:/\n0::/\n"


def test_cpu_cgroup_is_the_v1_cpu_controller_path_and_none_on_v2() -> None:
    assert cpu_cgroup(V1) == "/drkit.service"
    assert cpu_cgroup("0::/user.slice/session-1.scope\n") is None
    assert cpu_cgroup("5:cpuset:/a\n") is None  # cpuset is not cpu


def test_parent_only_where_the_engine_takes_a_path() -> None:
    assert choose_parent(None, True, "cgroupfs", "/drkit.service") == "/drkit.service"
    assert choose_parent(None, True, "systemd", "/drkit.service") is None  # systemd wants a slice name
    assert choose_parent(None, False, "cgroupfs", "/drkit.service") is None  # engine on another host
    assert choose_parent(None, True, "cgroupfs", None) is None  # cgroup v2
    assert choose_parent("", True, "cgroupfs", "/x") is None  # override: the engine's default
    assert choose_parent("/mine", False, None, None) == "/mine"


def _sandbox_cpu_cgroup(engine: DockerEngine, tmp: Path) -> tuple[str, str]:
    """(container id, cpu cgroup path of its main process) of a redis sandbox started by drkit."""
    data = tmp / "data"
    data.mkdir()
    with docker_redis(data, "redis:7", aof=False) as client:
        assert client.ping()
        api = engine.client()
        try:
            (found,) = api.containers.list(filters={"label": "drkit.sandbox=redis"})
            pid = int(found.attrs["State"]["Pid"])
            path = cpu_cgroup(Path(f"/proc/{pid}/cgroup").read_text())
            assert path is not None
            return found.id, path
        finally:
            api.close()


def test_sandbox_container_runs_under_drkits_cgroup(
    tmp_path: Path, docker_engine: DockerEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    monkeypatch.delenv(CGROUP_PARENT_ENV, raising=False)
    own = cpu_cgroup(Path("/proc/self/cgroup").read_text())
    _engine_driver.cache_clear()
    container_id, path = _sandbox_cpu_cgroup(docker_engine, tmp_path)
    if own is not None and _engine_driver() == "cgroupfs":  # the test machines: cgroup v1, Debian's dockerd
        assert path == f"{own.rstrip('/')}/{container_id}", path
    else:  # the engine's default parent is kept
        assert path != f"{(own or '').rstrip('/')}/{container_id}", path


def test_empty_override_keeps_the_engines_default(
    tmp_path: Path, docker_engine: DockerEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    monkeypatch.setenv(CGROUP_PARENT_ENV, "")
    own = cpu_cgroup(Path("/proc/self/cgroup").read_text())
    container_id, path = _sandbox_cpu_cgroup(docker_engine, tmp_path)
    assert path.endswith(container_id) and path != f"{(own or '').rstrip('/')}/{container_id}", path


ROOT = Path(__file__).resolve().parents[2]
PYTHON_IMAGE = "python:3.11-slim-bookworm"  # the stand-in: Debian's /usr/bin/python3, as this .venv's
IN_CONTAINER = textwrap.dedent("""
    import json, docker
    from drkit.drills.sandbox.cgroup import cpu_cgroup
    from drkit.drills.sandbox.docker import new_container, running
    with running(new_container("redis:7", "redis")) as sandbox:
        api = docker.from_env()
        attrs = api.api.inspect_container(sandbox.get_wrapped_container().id)
        api.close()
    print(json.dumps({"own": cpu_cgroup(open("/proc/self/cgroup").read()),
                      "parent": attrs["HostConfig"]["CgroupParent"]}))
""")


def _drkit_in_a_container(
    engine: DockerEngine,
    argv: list[str],
    mounts: dict[str, dict[str, str]] | None = None,
    network: str = "none",
    env: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    """Run ``argv`` with this .venv's Python in a container of its own (a private cgroup namespace, the
    engine's socket mounted at the default path, as a Compose service may run drkit); (code, out, err).
    This .venv and the worktree are mounted at their own paths: the stand-in python image has the same
    Debian Python."""
    ensure_image(engine, PYTHON_IMAGE, "python")
    venv = Path(sys.prefix)
    volumes = {
        str(ROOT): {"bind": str(ROOT), "mode": "ro"},
        str(venv): {"bind": str(venv), "mode": "ro"},
        engine.host.removeprefix("unix://"): {"bind": "/var/run/docker.sock", "mode": "rw"},
        **(mounts or {}),
    }
    client = engine.client()
    try:
        box = client.containers.run(
            PYTHON_IMAGE,
            [str(venv / "bin" / "python3"), *argv],
            detach=True,
            cgroupns="private",
            network_mode=network,
            volumes=volumes,
            environment={"PYTHONDONTWRITEBYTECODE": "1", **(env or {})},
            labels={"drkit.test": "drkit-in-a-container"},
        )
        try:
            code = int(box.wait(timeout=600)["StatusCode"])
            return code, box.logs(stdout=True, stderr=False).decode(), box.logs(stdout=False, stderr=True).decode()
        finally:
            box.remove(force=True)
    finally:
        client.close()


def test_drkit_in_a_container_keeps_the_engines_default(
    docker_engine: DockerEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """drkit in a container with a private cgroup namespace: its /proc/self/cgroup says "/", which the
    engine would read as the host's root cgroup, outside drkit's container and its limits. The sandbox
    it starts gets the engine's default parent."""
    monkeypatch.delenv(CGROUP_PARENT_ENV, raising=False)
    code, out, err = _drkit_in_a_container(docker_engine, ["-c", IN_CONTAINER])
    assert code == 0, err[-3000:]
    seen = json.loads(out.strip().splitlines()[-1])
    if cpu_cgroup(Path("/proc/self/cgroup").read_text()) is not None:  # cgroup v1, as on the test machines
        assert seen["own"] == "/", seen  # the scenario: a path only drkit's namespace means
    assert seen["parent"] == "", seen  # before: "/", the host's root


def test_redis_drill_from_drkit_in_a_container(
    tmp_path: Path, redis_server: RedisServer, docker_engine: DockerEngine
) -> None:
    """The setup docs/deployment.md describes for container drills from drkit in a container: host
    network, the engine's socket, DRKIT_DRILL_TMP a host directory at the same path. The drill passes
    (its checks compare the restored data's facts with the backup's) and leaves no sandbox behind."""
    fill_types(redis_server, dbs=(0,))
    cfg = write_config(
        tmp_path / "drkit.yaml",
        init_repo(tmp_path / "repo"),
        {"cache": {"source": {"kind": "redis", "url": redis_server.url}}},
    )
    ok(cfg, "job", "run", "cache")
    (tmp_path / "drill").mkdir()
    code, out, err = _drkit_in_a_container(
        docker_engine,
        [
            "-m",
            "drkit.cli.main",
            "--config",
            str(cfg),
            "drill",
            "cache",
            "--sandbox",
            "docker",
            "--json",
            str(tmp_path / "drill.json"),
        ],
        {str(tmp_path): {"bind": str(tmp_path), "mode": "rw"}},
        network="host",
        env={**ENV, "DRKIT_DRILL_TMP": str(tmp_path / "drill")},
    )
    assert code == 0, (out + err)[-3000:]
    (r,) = json.loads((tmp_path / "drill.json").read_text())["drills"]
    assert r["success"] and r["sandbox"] == "docker", r
    assert {"redis.key_counts", "redis.sample"} <= {c["name"] for c in r["checks"] if c["ok"]}, r["checks"]
    assert list((tmp_path / "drill").iterdir()) == []
    client = docker_engine.client()
    try:
        assert client.containers.list(all=True, filters={"label": "drkit.sandbox"}) == []
    finally:
        client.close()
