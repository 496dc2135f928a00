"""Is a Docker engine reachable? Asked once per drill, with a short timeout, and answered with a
reason that the drill report and ``--sandbox docker`` errors show."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DockerStatus:
    reachable: bool
    reason: str


def docker_status(timeout: float = 3.0) -> DockerStatus:
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
