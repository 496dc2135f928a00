"""Who holds a lock, precisely enough to prove the holder dead (docs/repository-safety.md).

A pid means something only on one running kernel and in one PID namespace: two containers sharing a
host name (host networking, or one ``--hostname``) see different processes under the same number. So
a lock records, besides its host name and pid, the *machine id* (``/etc/machine-id``) and the *boot id*
(``/proc/sys/kernel/random/boot_id``, new at every boot), both as drkit-specific HMACs, the *PID namespace* (``readlink
/proc/self/ns/pid``) and the holder's *start time* (field 22 of ``/proc/<pid>/stat``, clock ticks
since boot). Another process judges the holder dead by its pid only when machine, boot and namespace
all equal its own, and then when that pid does not exist, is a zombie, or started at another time
(the pid was reused). Anything else -- another host, another namespace, an older lock without these
fields, a ``/proc`` that belongs to another namespace -- can only be judged by the lock's expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

_MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
_BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"


@dataclass(frozen=True)
class Holder:
    """Where a process runs: machine, boot and PID namespace ('' when unknown), and its start time."""

    machine_id: str = ""
    boot_id: str = ""
    pid_ns: str = ""
    start_time: int = -1

    @property
    def known(self) -> bool:
        """Boot and namespace known (a container often has no ``/etc/machine-id``; the boot id, a random
        UUID per kernel boot, already tells machines apart)."""
        return bool(self.boot_id and self.pid_ns)

    def same_place(self, other: Holder) -> bool:
        """Both known and on the same machine, boot and PID namespace: pids mean the same process."""
        return (
            self.known
            and other.known
            and (self.machine_id, self.boot_id, self.pid_ns) == (other.machine_id, other.boot_id, other.pid_ns)
        )


def _read_first_line(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.readline(200).strip()
    except OSError:
        return ""


def _app_specific(value: str) -> str:
    """An id derived from ``value`` for drkit only: systemd asks that the machine id itself never
    leave the machine (lock objects are plain JSON in the bucket)."""
    if not value:
        return ""
    return hmac.new(value.encode(), b"drkit repository lock holder", hashlib.sha256).hexdigest()[:32]


def _machine_id() -> str:
    for path in _MACHINE_ID_FILES:
        if value := _read_first_line(path):
            return _app_specific(value)
    return ""


def _pid_ns() -> str:
    """Our PID namespace, or '' when ``/proc`` is not our namespace's (``unshare --pid`` without
    ``--mount-proc``): a pid looked up there would name another namespace's process."""
    try:
        if os.readlink("/proc/self") != str(os.getpid()):
            return ""
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time) of ``pid`` from ``/proc/<pid>/stat``; None if there is no such process.
    Raises OSError when it cannot tell (no ``/proc``, no permission)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read(4096)
    except FileNotFoundError:
        return None
    fields = text[text.rfind(b")") + 2 :].split()  # the command name may hold spaces and parentheses
    try:
        return fields[0].decode("ascii", "replace"), int(fields[19])
    except (IndexError, ValueError):
        raise OSError(f"/proc/{pid}/stat: unexpected format") from None


_ours: tuple[int, Holder] | None = None


def this_process() -> Holder:
    """This process's holder fields (cached per pid: a forked child gets its own start time)."""
    global _ours
    pid = os.getpid()
    if _ours is None or _ours[0] != pid:
        ns = _pid_ns()
        try:
            stat = proc_stat(pid) if ns else None
        except OSError:
            stat = None
        start = stat[1] if stat is not None else -1
        _ours = (
            pid,
            Holder(_machine_id(), _app_specific(_read_first_line(_BOOT_ID_FILE)), ns if start >= 0 else "", start),
        )
    return _ours[1]


def provably_dead(holder: Holder, pid: int) -> bool:
    """True only when ``holder`` ran where we run and its process is gone (or its pid was reused)."""
    if pid <= 0 or holder.start_time < 0 or not holder.same_place(this_process()):
        return False
    try:
        stat = proc_stat(pid)
    except OSError:
        return False  # cannot tell: alive
    if stat is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            pass
        return False  # /proc/<pid> vanished but the pid answers: a race with its start; alive
    state, start = stat
    return state in ("Z", "X") or start != holder.start_time
