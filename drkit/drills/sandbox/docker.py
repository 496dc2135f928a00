"""Is a Docker engine reachable? Asked once per drill, with a short timeout, and answered with a
reason that the drill report and ``--sandbox docker`` errors show."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DockerStatus:
    reachable: bool
    reason: str


DEFAULT_SOCKET = "/var/run/docker.sock"


def docker_status(timeout: float = 3.0) -> DockerStatus:
    if not os.environ.get("DOCKER_HOST") and not os.path.exists(DEFAULT_SOCKET):
        return DockerStatus(False, f"no Docker engine reachable (DOCKER_HOST unset, no {DEFAULT_SOCKET})")
    try:
        import docker
    except ImportError:
        return DockerStatus(False, "the docker Python package is not installed")
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
