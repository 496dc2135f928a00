"""Sandbox containers run under drkit's own cgroup where the engine allows it (cgroup v1, cgroupfs
driver, engine on this host), so a restored server in a container is scheduled like the local
sandbox's server process instead of sharing one CPU weight with every container of the host
(drkit/drills/sandbox/cgroup.py). Checked on the real engine of tests/servers/docker.py: the
container's process is in a cgroup below this process's own; with DRKIT_SANDBOX_CGROUP_PARENT empty
it is where the engine puts it by default."""

from __future__ import annotations

from pathlib import Path

import pytest
from servers.docker import DockerEngine

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
