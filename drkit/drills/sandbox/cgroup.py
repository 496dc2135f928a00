"""Which cgroup a sandbox container runs under: drkit's own, when the engine lets us say so.

Docker puts every container under its own parent cgroup (``/docker`` with the cgroupfs driver). The
kernel's CPU scheduler shares CPU between sibling cgroups, so all containers of the host together
weigh as much as ONE process of the host: on a busy machine a restored server loading its data in a
container got a fraction of what the same server gets as a local sandbox (bench/drill.py --docker:
Redis RDB loads 1.3–2.4× slower with the machine at load 13). Started under drkit's own cgroup, the
container is scheduled like a child process of drkit, as the local sandbox's server is, and counts
against whatever limits the operator set on drkit.

Only where that is safe to ask for: an engine on this host (a unix socket), cgroup v1 (v2 forbids
processes in a cgroup that has children with controllers) and the cgroupfs driver (the systemd driver
takes a slice name, not a path). ``DRKIT_SANDBOX_CGROUP_PARENT`` overrides: a path to use, or empty
for the engine's default.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

CGROUP_PARENT_ENV = "DRKIT_SANDBOX_CGROUP_PARENT"


def cpu_cgroup(text: str) -> str | None:
    """The cgroup v1 path of the ``cpu`` controller in a ``/proc/PID/cgroup`` text; None on v2."""
    for line in text.splitlines():
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if "cpu" in controllers.split(","):
            return path or "/"
    return None


def choose_parent(override: str | None, local: bool, driver: str | None, own: str | None) -> str | None:
    """The ``cgroup_parent`` to create a sandbox container with (None: the engine's default)."""
    if override is not None:
        return override or None
    if local and driver == "cgroupfs" and own is not None:
        return own
    return None


@functools.cache
def _engine_driver() -> str | None:
    try:
        import docker

        client = docker.from_env(timeout=10)
        try:
            return str(client.info().get("CgroupDriver") or "") or None
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - no answer: leave the engine's default, the start reports real trouble
        return None


def sandbox_cgroup_parent(local: bool) -> str | None:
    override = os.environ.get(CGROUP_PARENT_ENV)
    if override is not None or not local:
        return choose_parent(override, local, None, None)
    try:
        own = cpu_cgroup(Path("/proc/self/cgroup").read_text())
    except OSError:
        return None
    return choose_parent(None, local, _engine_driver() if own is not None else None, own)
