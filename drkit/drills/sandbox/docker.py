"""Docker sandboxes: is an engine reachable (asked once per drill, with a short timeout and a
reason the report and ``--sandbox docker`` errors show), and containers that are always removed.

drkit removes its own containers, and their anonymous volumes, on success, failure, Ctrl-C and
SIGTERM (``running``; SIGTERM: ``workdir.terminate_as_exit``), so it does not need testcontainers'
Ryuk reaper: Ryuk is switched off unless the environment asks for it
(``TESTCONTAINERS_RYUK_DISABLED=false``), because its image must be pulled from a registry, which
air-gapped hosts cannot reach. Containers carry the label
``drkit.sandbox=<kind>`` so an operator can find one a killed drill left behind. Where the engine
allows, they run under drkit's own cgroup, scheduled like a local sandbox's server (``cgroup.py``)."""

from __future__ import annotations

import os
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...core.errors import UsageError
from .cgroup import sandbox_cgroup_parent

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer


@dataclass(frozen=True)
class DockerStatus:
    reachable: bool
    reason: str


DEFAULT_SOCKET = "/var/run/docker.sock"
LABEL = "drkit.sandbox"
RUN_LABEL = "drkit.sandbox.run"  # unique per container: finds one whose creation an interrupt cut short
_RUN_IDS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


class SandboxUnavailable(UsageError):
    """The sandbox's image cannot be had (not present and not pullable) or its container cannot start."""


def docker_status(timeout: float = 3.0) -> DockerStatus:
    if not os.environ.get("DOCKER_HOST") and not os.path.exists(DEFAULT_SOCKET):
        return DockerStatus(False, f"no Docker engine reachable (DOCKER_HOST unset, no {DEFAULT_SOCKET})")
    try:
        import docker
    except ImportError:
        return DockerStatus(False, "the docker Python package is not installed (pip install 'drkit[docker]')")
    try:
        client = docker.from_env(timeout=int(timeout) or 1)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"; say why in one line
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        return DockerStatus(False, f"no Docker engine reachable ({reason})")
    return DockerStatus(True, "Docker engine reachable")


def new_container(image: str, kind: str, **create: Any) -> DockerContainer:
    """A testcontainers container of ``image``, labelled, with Ryuk off unless asked for; ``create``:
    more arguments of the engine's create call (given here: ``with_kwargs`` would drop the label)."""
    from testcontainers.core.config import testcontainers_config
    from testcontainers.core.container import DockerContainer

    if "TESTCONTAINERS_RYUK_DISABLED" not in os.environ:
        testcontainers_config.ryuk_disabled = True
    parent = sandbox_cgroup_parent(engine_socket())
    if parent is not None:
        create.setdefault("cgroup_parent", parent)
    run = uuid.uuid4().hex
    container = DockerContainer(image, labels={LABEL: kind, RUN_LABEL: run}, **create)
    _RUN_IDS[container] = run
    return container


def engine_socket() -> str | None:
    """The path of the engine's unix socket; None when ``DOCKER_HOST`` names another transport."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        return DEFAULT_SOCKET
    return host.removeprefix("unix://") if host.startswith("unix://") else None


def local_engine() -> bool:
    """Whether the engine runs on this host (a unix socket): bind mounts and loopback ports reach it."""
    return engine_socket() is not None


def publish(container: DockerContainer, port: int) -> DockerContainer:
    """Publish ``port`` on a free host port: on loopback only when the engine is on this host (the
    sandbox holds restored production data), else on the engine's addresses."""
    container.ports[f"{port}/tcp"] = ("127.0.0.1", None) if local_engine() else None  # type: ignore[assignment]
    return container


def address(container: DockerContainer, port: int) -> tuple[str, int]:
    """Where this process reaches the container's published ``port``."""
    host = "127.0.0.1" if local_engine() else container.get_container_host_ip()
    return host, int(container.get_exposed_port(port))


@contextmanager
def running(container: DockerContainer) -> Iterator[DockerContainer]:
    """Start ``container``; stop and remove it (and its anonymous volumes) however the block ends,
    a failed start included."""
    import docker

    try:
        try:
            container.start()
        except docker.errors.ImageNotFound as exc:
            raise SandboxUnavailable(
                f"sandbox image {container.image} is not on this Docker engine and cannot be pulled",
                hint="load or build it there (docker load / docker build), or name another image in the "
                "job's drill.images",
            ) from exc
        except docker.errors.APIError as exc:
            detail = " ".join(str(exc.explanation or exc).split())[:200]
            raise SandboxUnavailable(f"sandbox container of {container.image} could not start: {detail}") from exc
        yield container
    finally:
        _remove(container)


def _remove(container: DockerContainer) -> None:
    from testcontainers.core.exceptions import ContainerStartException

    try:
        container.get_wrapped_container()
    except ContainerStartException:  # no handle: never created, or Ctrl-C while the engine created it
        _remove_by_run_label(container)
        return
    container.stop(force=True, delete_volume=True)


def _remove_by_run_label(container: DockerContainer) -> None:
    run = _RUN_IDS.get(container)
    if run is None:
        return
    client = container.get_docker_client().client
    try:
        for found in client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run}"}):
            found.remove(force=True, v=True)
    except Exception:  # noqa: BLE001 - an engine that cannot answer has nothing we could remove; the
        pass  # error that ended the sandbox (a missing image, an unreachable engine) is the one to report
    finally:
        client.close()
