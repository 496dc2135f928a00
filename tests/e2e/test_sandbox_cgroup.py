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
from servers.docker import DockerEngine, ensure_image

from drkit.drills.sandbox.cgroup import CGROUP_PARENT_ENV, _engine_driver, choose_parent, cpu_cgroup
from drkit.drills.sandbox.redis import docker_redis

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


def test_drkit_in_a_container_keeps_the_engines_default(docker_engine: DockerEngine,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """drkit in a container with a private cgroup namespace, the engine's socket mounted (as a Compose
    service may run it): its /proc/self/cgroup says "/", which the engine would read as the host's root
    cgroup, outside drkit's container and its limits. The sandbox it starts gets the engine's default
    parent. (This .venv and the worktree are mounted at their own paths; the stand-in python image has
    the same Debian Python.)"""
    monkeypatch.delenv(CGROUP_PARENT_ENV, raising=False)
    ensure_image(docker_engine, PYTHON_IMAGE, "python")
    sock = docker_engine.host.removeprefix("unix://")
    venv = Path(sys.prefix)
    mounts = {str(ROOT): {"bind": str(ROOT), "mode": "ro"}, str(venv): {"bind": str(venv), "mode": "ro"},
              sock: {"bind": "/var/run/docker.sock", "mode": "rw"}}
    client = docker_engine.client()
    try:
        drkit_box = client.containers.run(
            PYTHON_IMAGE, [str(venv / "bin" / "python3"), "-c", IN_CONTAINER], detach=True, cgroupns="private",
            network_mode="none", volumes=mounts, environment={"PYTHONDONTWRITEBYTECODE": "1"},
            labels={"drkit.test": "cgroup-in-container"})
        try:
            code = int(drkit_box.wait(timeout=300)["StatusCode"])
            out = drkit_box.logs(stdout=True, stderr=False).decode()
            err = drkit_box.logs(stdout=False, stderr=True).decode()
        finally:
            drkit_box.remove(force=True)
    finally:
        client.close()
    assert code == 0, err[-3000:]
    seen = json.loads(out.strip().splitlines()[-1])
    if cpu_cgroup(Path("/proc/self/cgroup").read_text()) is not None:  # cgroup v1, as on the test machines
        assert seen["own"] == "/", seen  # the scenario: a path only drkit's namespace means
    assert seen["parent"] == "", seen  # before: "/", the host's root
