"""Throwaway instances a drill restores into: a testcontainers container when a Docker engine is
reachable, otherwise a local process (``initdb``/``postgres``, ``redis-server``) or a temp directory.
Every sandbox is a context manager: it is torn down on success, failure and Ctrl-C alike."""

from .docker import DockerStatus, docker_status
from .select import choose_sandbox
from .workdir import workdir

__all__ = ["DockerStatus", "choose_sandbox", "docker_status", "workdir"]
