"""Whether the Docker engine names cgroups as drkit does (drkit/drills/sandbox/cgroup.py): the engine's
process found through its socket (SO_PEERCRED), its cgroup namespace compared with drkit's. Only then
is drkit's own cgroup path handed to the engine as a sandbox's parent; drkit in a container talking
to the host's engine (pid 0 through the socket, or another cgroup namespace) keeps the engine's default.
The container case itself runs in tests/e2e/test_sandbox_cgroup.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from drkit.drills.sandbox.cgroup import (
    CGROUP_PARENT_ENV,
    _nspid_levels,
    engine_pid,
    sandbox_cgroup_parent,
    shares_cgroup_view,
)
from drkit.drills.sandbox.docker import engine_socket


def _listening(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(4)
    return sock


def test_engine_pid_is_the_listening_process(tmp_path: Path) -> None:
    with _listening(tmp_path / "engine.sock"):
        assert engine_pid(str(tmp_path / "engine.sock")) == os.getpid()
    assert engine_pid(str(tmp_path / "nobody.sock")) is None  # nothing listens: no answer


def test_engine_pid_of_a_listener_in_another_process(tmp_path: Path) -> None:
    path = tmp_path / "engine.sock"
    code = (
        "import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1); "
        "print('ready', flush=True); sys.stdin.read()"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        assert engine_pid(str(path)) == child.pid
        assert shares_cgroup_view(child.pid)  # a child of this process: the same namespaces
    finally:
        child.communicate(timeout=60)


def test_only_a_visible_process_in_the_same_cgroup_namespace_shares_the_view(tmp_path: Path) -> None:
    assert shares_cgroup_view(os.getpid())
    assert not shares_cgroup_view(0)  # the engine outside drkit's PID namespace (drkit in a container)
    assert not shares_cgroup_view(None)  # no answer on the socket
    proc = tmp_path / "proc"
    for pid, ns in (("self", "cgroup:[4026531835]"), ("7", "cgroup:[4026531835]"), ("8", "cgroup:[4026532175]")):
        (proc / pid / "ns").mkdir(parents=True)
        (proc / pid / "ns" / "cgroup").symlink_to(ns)
    assert shares_cgroup_view(7, proc)
    assert not shares_cgroup_view(8, proc)  # drkit's cgroup namespace is not the engine's
    assert not shares_cgroup_view(9, proc)  # gone


def test_nspid_levels_tell_the_same_pid_namespace(tmp_path: Path) -> None:
    """The fallback where the engine's namespace link cannot be read (no ptrace permission on it)."""
    status = tmp_path / "status"
    status.write_text("Name:\tdockerd\nNSpid:\t812\n")
    assert _nspid_levels(status) == 1
    status.write_text("Name:\tdockerd\nNSpid:\t9120\t1\n")  # in a PID namespace below this one
    assert _nspid_levels(status) == 2
    assert _nspid_levels(tmp_path / "missing") == 0
    assert _nspid_levels(Path(f"/proc/{os.getpid()}/status")) >= 1


def test_no_parent_when_the_engine_does_not_answer_or_is_remote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CGROUP_PARENT_ENV, raising=False)
    assert sandbox_cgroup_parent(str(tmp_path / "nobody.sock")) is None
    assert sandbox_cgroup_parent(None) is None
    monkeypatch.setenv(CGROUP_PARENT_ENV, "/drkit.slice")
    assert sandbox_cgroup_parent(None) == "/drkit.slice"  # the operator's word wins, remote engine or not


def test_engine_socket_follows_docker_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert engine_socket() == "/var/run/docker.sock"
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
    assert engine_socket() == "/run/user/1000/docker.sock"
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.5:2376")
    assert engine_socket() is None
