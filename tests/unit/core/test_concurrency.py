"""Worker, restore and connection counts follow the CPUs the process may use (affinity, cgroup quota) and
the store's kind; the command line and the config override them (core/concurrency.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from clirun import DRKIT

from drkit.core import concurrency
from drkit.core.concurrency import Tuning, cgroup_cpu_limit, plan, usable_cpus

MIB = 1 << 20
ENV = {"DRKIT_PASSWORD": "pw-concurrency"}


@pytest.fixture(autouse=True)
def _no_override() -> None:
    concurrency.configure(Tuning())


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def test_cgroup_v1_quota_in_the_mount_and_in_the_process_cgroup(tmp_path: Path) -> None:
    mount = tmp_path / "cpu,cpuacct"
    _write(mount / "cpu.cfs_quota_us", "-1")
    _write(mount / "cpu.cfs_period_us", "100000")
    proc = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n"
    assert cgroup_cpu_limit(tmp_path, proc) is None  # -1: no quota
    _write(mount / "cpu.cfs_quota_us", "150000")  # a container's namespaced view: limits at the mount
    assert cgroup_cpu_limit(tmp_path, proc) == 1.5
    _write(mount / "docker" / "abc" / "cpu.cfs_quota_us", "50000")  # the process's own cgroup: lower
    _write(mount / "docker" / "abc" / "cpu.cfs_period_us", "100000")
    assert cgroup_cpu_limit(tmp_path, proc) == 0.5
    assert cgroup_cpu_limit(tmp_path, "4:cpuacct:/docker/abc\n") is None  # no cpu controller named


def test_cgroup_v2_cpu_max_takes_the_smallest_ancestor(tmp_path: Path) -> None:
    proc = "0::/system.slice/app.service\n"
    _write(tmp_path / "cpu.max", "max 100000")
    assert cgroup_cpu_limit(tmp_path, proc) is None
    _write(tmp_path / "system.slice" / "cpu.max", "300000 100000")
    _write(tmp_path / "system.slice" / "app.service" / "cpu.max", "max 100000")
    assert cgroup_cpu_limit(tmp_path, proc) == 3.0
    _write(tmp_path / "system.slice" / "app.service" / "cpu.max", "250000 100000")
    assert cgroup_cpu_limit(tmp_path, proc) == 2.5
    _write(tmp_path / "system.slice" / "app.service" / "cpu.max", "garbage")
    assert cgroup_cpu_limit(tmp_path, proc) == 3.0


def test_usable_cpus_rounds_a_quota_up_and_never_exceeds_the_affinity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    affinity = len(os.sched_getaffinity(0))
    _fake_quota(tmp_path, 0.5)
    assert usable_cpus(tmp_path) == 1
    _fake_quota(tmp_path, 1000.0)
    assert usable_cpus(tmp_path) == affinity
    monkeypatch.setenv("DRKIT_CGROUP_ROOT", str(tmp_path))
    _fake_quota(tmp_path, 0.25)
    assert usable_cpus() == 1


def test_the_machines_own_cgroup_files_parse(tmp_path: Path) -> None:
    """This machine's real cgroup files, copied as they are into a fake root, give what their raw
    numbers say (checked here independently of the parser's walk)."""
    real = Path("/sys/fs/cgroup")
    raw = Path("/proc/self/cgroup").read_text()
    expected = None
    if (real / "cpu.max").is_file():
        quota, period = (real / "cpu.max").read_text().split()
        shutil.copy(real / "cpu.max", tmp_path / "cpu.max")
        expected = None if quota == "max" else int(quota) / int(period)
    elif (real / "cpu" / "cpu.cfs_quota_us").is_file():
        (tmp_path / "cpu").mkdir()
        for name in ("cpu.cfs_quota_us", "cpu.cfs_period_us"):
            shutil.copy(real / "cpu" / name, tmp_path / "cpu" / name)
        quota = int((real / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((real / "cpu" / "cpu.cfs_period_us").read_text())
        expected = None if quota < 0 else quota / period
        raw = "\n".join(line for line in raw.splitlines() if ":cpu" in line)
        raw = re.sub(r":(cpu[^:]*):.*", r":\1:/", raw)  # only the mount's own files were copied
    else:
        pytest.skip("no cgroup cpu files on this machine")
    assert cgroup_cpu_limit(tmp_path, raw) == expected


def test_plan_follows_cpus_and_the_store_kind() -> None:
    local = plan(remote=False, pack_size=16 * MIB, cpus=1)
    assert (local.seal_workers, local.restore_workers, local.uploads, local.reads) == (1, 1, 2, 4)
    local = plan(remote=False, pack_size=16 * MIB, cpus=16)
    assert (local.seal_workers, local.restore_workers, local.uploads) == (16, 16, 2)
    remote = plan(remote=True, pack_size=16 * MIB, cpus=2)
    assert (remote.seal_workers, remote.restore_workers, remote.uploads, remote.reads) == (2, 8, 8, 8)
    # memory bound: each upload in flight holds a pack buffer, all of them under UPLOAD_MEMORY
    big = plan(remote=True, pack_size=64 * MIB, cpus=2, configured=Tuning(connections=32))
    assert (big.uploads + 1) * 64 * MIB <= concurrency.UPLOAD_MEMORY and big.reads == 32


def test_the_command_line_wins_over_the_config() -> None:
    configured = Tuning(workers=3, connections=5)
    p = plan(remote=True, pack_size=16 * MIB, cpus=2, configured=configured)
    assert (p.seal_workers, p.uploads, p.reads) == (3, 5, 5)
    concurrency.choose(connections=12)
    p = plan(remote=True, pack_size=16 * MIB, cpus=2, configured=configured)
    assert (p.seal_workers, p.uploads, p.reads) == (3, 12, 12)


def _fake_quota(root: Path, cpus: float) -> None:
    """A quota in both layouts at the mount point (whatever this machine's /proc/self/cgroup names)."""
    _write(root / "cpu.max", f"{int(cpus * 100000)} 100000")
    for mount in ("cpu", "cpu,cpuacct"):
        _write(root / mount / "cpu.cfs_quota_us", str(int(cpus * 100000)))
        _write(root / mount / "cpu.cfs_period_us", "100000")


def _backup_plan(repo: Path, prefix: list[str], env: dict[str, str]) -> str:
    """The concurrency line a real `drkit backup stdin` logs, run under ``prefix`` (taskset)."""
    full = {**os.environ, **ENV, **env}
    proc = subprocess.run(
        [*prefix, *DRKIT, "--log-level", "info", "backup", "stdin", "--name", "s", "--repo", str(repo)],
        input=b"x" * 100_000,
        capture_output=True,
        env=full,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    line = next((ln for ln in proc.stderr.decode().splitlines() if "concurrency:" in ln), "")
    assert line, proc.stderr
    return line


@pytest.mark.skipif(shutil.which("taskset") is None, reason="taskset (util-linux) not installed")
def test_a_backup_uses_the_cpus_taskset_and_a_cgroup_quota_allow(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    init = subprocess.run(
        [*DRKIT, "init", "--repo", str(repo)], capture_output=True, env={**os.environ, **ENV}, timeout=120
    )
    assert init.returncode == 0, init.stderr
    no_quota = tmp_path / "cg-none"
    _fake_quota(no_quota, 1000.0)
    line = _backup_plan(repo, ["taskset", "-c", "0"], {"DRKIT_CGROUP_ROOT": str(no_quota)})
    assert "1 usable CPU(s)" in line and "1 sealing worker(s)" in line and "1 restore worker(s)" in line
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        pair = f"{cpus[0]},{cpus[1]}"
        line = _backup_plan(repo, ["taskset", "-c", pair], {"DRKIT_CGROUP_ROOT": str(no_quota)})
        assert "2 usable CPU(s)" in line and "2 sealing worker(s)" in line
        quota = tmp_path / "cg-half"
        _fake_quota(quota, 0.5)  # a container limited to half a CPU, on two CPUs
        line = _backup_plan(repo, ["taskset", "-c", pair], {"DRKIT_CGROUP_ROOT": str(quota)})
        assert "1 usable CPU(s)" in line and "1 sealing worker(s)" in line
    line = _backup_plan(
        repo,
        ["taskset", "-c", str(cpus[0])],
        {"DRKIT_CGROUP_ROOT": str(no_quota), "DRKIT_WORKERS": "3", "DRKIT_CONNECTIONS": "2"},
    )
    assert "3 sealing worker(s)" in line and "2 upload(s)" in line  # the command line (env) wins


def test_a_repositorys_configured_counts_reach_its_jobs_and_the_command_line_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from drkit.config import load_config
    from drkit.jobs.connect import open_job_repository

    monkeypatch.setenv("DRKIT_PASSWORD", ENV["DRKIT_PASSWORD"])
    repo = tmp_path / "repo"
    init = subprocess.run([*DRKIT, "init", "--repo", str(repo)], capture_output=True, timeout=120)
    assert init.returncode == 0, init.stderr
    doc = {
        "repositories": {
            "default": {"url": str(repo), "passphrase": {"env": "DRKIT_PASSWORD"}, "workers": 3, "connections": 5}
        },
        "jobs": {"etc": {"source": {"kind": "files", "paths": [str(tmp_path)]}}},
    }
    (tmp_path / "drkit.yaml").write_text(yaml.safe_dump(doc))
    config = load_config(tmp_path / "drkit.yaml")
    opened, _ = open_job_repository(config, config.jobs["etc"])
    try:
        p = opened.concurrency()
        assert (p.seal_workers, p.restore_workers, p.uploads, p.reads) == (3, 3, 5, 5)
        concurrency.choose(workers=1)  # --workers 1
        assert opened.concurrency().seal_workers == 1 and opened.concurrency().uploads == 5
    finally:
        opened.backend.close()
