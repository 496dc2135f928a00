"""``--sandbox auto|docker|local``: which kind of sandbox a drill uses, and why."""

from __future__ import annotations

from ...core.errors import UsageError
from .docker import docker_status


def choose_sandbox(requested: str) -> tuple[str, str]:
    """("docker" | "local", why). ``docker`` without an engine is an error, ``auto`` falls back."""
    if requested == "local":
        return "local", "local sandbox requested"
    status = docker_status()
    if status.reachable:
        return "docker", status.reason
    if requested == "docker":
        raise UsageError(
            f"--sandbox docker: {status.reason}", hint="start Docker or set DOCKER_HOST, or use --sandbox local / auto"
        )
    return "local", f"{status.reason}; using local processes"
