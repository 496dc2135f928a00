"""Which cgroup a sandbox container runs under: drkit's own, when the engine lets us say so.

Docker puts every container under its own parent cgroup (``/docker`` with the cgroupfs driver). The
kernel's CPU scheduler shares CPU between sibling cgroups, so all containers of the host together
weigh as much as ONE process of the host: on a busy machine a restored server loading its data in a
container got a fraction of what the same server gets as a local sandbox (bench/drill.py --docker:
Redis RDB loads 1.3–2.4× slower with the machine at load 13). Started under drkit's own cgroup, the
container is scheduled like a child process of drkit, as the local sandbox's server is, and counts
against whatever limits the operator set on drkit.

Only where that is safe to ask for: an engine on this host (a unix socket), cgroup v1 (v2 forbids
processes in a cgroup that has children with controllers), the cgroupfs driver (the systemd driver
takes a slice name, not a path), and the engine naming cgroups as drkit does. That last one fails
when drkit itself runs in a container and talks to the host's engine through a mounted socket: its
``/proc/self/cgroup`` is relative to its own cgroup namespace (``/`` with a private one), a path the
engine would take as one from the host's root, putting the sandbox outside drkit's limits. So the
engine's process is found through its socket (``SO_PEERCRED``: 0 when it is not in drkit's PID
namespace) and its cgroup namespace compared with drkit's; where that cannot be read (no ptrace
permission on it), sharing drkit's PID namespace is taken as the evidence. Otherwise the engine's
default parent is kept. ``DRKIT_SANDBOX_CGROUP_PARENT`` overrides: a path to use, or empty for the
engine's default.
"""

from __future__ import annotations

import functools
import os
import socket
import struct
from pathlib import Path

CGROUP_PARENT_ENV = "DRKIT_SANDBOX_CGROUP_PARENT"
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def cpu_cgroup(text: str) -> str | None:
    """The cgroup v1 path of the ``cpu`` controller in a ``/proc/PID/cgroup`` text; None on v2."""
    for line in text.splitlines():
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if "cpu" in controllers.split(","):
            return path or "/"
    return None


def choose_parent(override: str | None, local: bool, driver: str | None, own: str | None) -> str | None:
    """The ``cgroup_parent`` to create a sandbox container with (None: the engine's default). ``own``:
    drkit's cpu cgroup, None on cgroup v2 or where the engine names cgroups differently."""
    if override is not None:
        return override or None
    if local and driver == "cgroupfs" and own is not None:
        return own
    return None


def engine_pid(socket_path: str) -> int | None:
    """The process listening on the engine's unix socket, as this PID namespace numbers it (0: it runs
    outside it, as the host's engine does for drkit in a container); None when the socket does not answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(socket_path)
            pid, _, _ = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
            return int(pid)
    except OSError:
        return None


def shares_cgroup_view(pid: int | None, proc: Path = Path("/proc")) -> bool:
    """Whether process ``pid`` names cgroups as this process does: same cgroup namespace; where its
    namespace link cannot be read, same PID namespace (its ``NSpid`` has one level below ``proc``'s)."""
    if not pid or pid < 0:
        return False
    try:
        own = os.readlink(proc / "self" / "ns" / "cgroup")
    except FileNotFoundError:  # a kernel without cgroup namespaces: one view for every process
        return (proc / str(pid)).is_dir()
    except OSError:
        return False
    try:
        return os.readlink(proc / str(pid) / "ns" / "cgroup") == own
    except PermissionError:  # no ptrace permission on the engine (not root; a container without CAP_SYS_PTRACE)
        return _nspid_levels(proc / str(pid) / "status") == 1
    except OSError:
        return False


def _nspid_levels(status: Path) -> int:
    try:
        for line in status.read_text().splitlines():
            if line.startswith("NSpid:"):
                return len(line.split()) - 1
    except OSError:
        pass
    return 0


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


def sandbox_cgroup_parent(engine_socket: str | None) -> str | None:
    """``engine_socket``: the path of the engine's unix socket; None when the engine is on another host."""
    override = os.environ.get(CGROUP_PARENT_ENV)
    if override is not None or engine_socket is None:
        return choose_parent(override, engine_socket is not None, None, None)
    try:
        own = cpu_cgroup(Path("/proc/self/cgroup").read_text())
    except OSError:
        return None
    if own is None or not shares_cgroup_view(engine_pid(engine_socket)):
        return None
    return choose_parent(None, True, _engine_driver(), own)
