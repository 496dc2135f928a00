"""The system commands' bad input and partial failure, through the real CLI: an unknown system, --system with
--all or with job names, each one line and exit 2 before anything runs; a heartbeat that cannot reach one
component is exit 1 naming it, after the others were written."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from clirun import DRKIT, drkit, one_line_error
from servers.redis import RedisServer

pytestmark = pytest.mark.integration
ENV = {"SYSTEM_TEST_PASS": "pw-for-system-cli"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed once the socket is: nothing listens there


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "tree").mkdir()
    doc = {
        "repositories": {"default": {"url": str(tmp_path / "repo"), "passphrase": {"env": "SYSTEM_TEST_PASS"}}},
        "jobs": {
            "cache": {"source": {"kind": "redis", "url": f"redis://127.0.0.1:{_closed_port()}/0"}},
            "tree": {"source": {"kind": "files", "paths": [str(tmp_path / "tree")]}},
        },
        "systems": {"shop": {"jobs": ["tree", "cache"]}},
    }
    path = tmp_path / "drkit.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["restore", "--system", "nope", "--point-in-time", "2026-12-07T08:00:00Z", "--target-dir", "x"],
            "no system named 'nope' in the config (systems: shop)",
        ),
        (
            ["restore", "--system", "shop", "--all", "--point-in-time", "2026-12-07T08:00:00Z", "--target-dir", "x"],
            "give --system NAME or --all (not both)",
        ),
        (
            ["restore", "--system", "shop", "--point-in-time", "2026-12-07 08:00:00", "--target-dir", "x"],
            "has no time zone",
        ),
        (["drill", "--system", "shop", "cache"], "--system drills the system's own jobs"),
        (["drill", "--system", "nope"], "no system named 'nope'"),
        (["system", "heartbeat", "nope"], "no system named 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(config: Path, tmp_path: Path, args: list[str], words: str) -> None:
    proc = drkit("--config", str(config), *[str(tmp_path / a) if a == "x" else a for a in args], env=ENV)
    assert proc.returncode == 2, proc.stderr.decode()
    assert words in one_line_error(proc)
    assert not (tmp_path / "x").exists()


def test_a_heartbeat_missing_one_component_names_it_and_writes_the_others(config: Path, tmp_path: Path) -> None:
    proc = drkit("--config", str(config), "system", "heartbeat", "shop", env=ENV)
    assert proc.returncode == 1, proc.stderr.decode()
    line = one_line_error(proc)
    assert "system shop: heartbeat" in line and "not written to cache:" in line and "tree" not in line.split("to ")[-1]
    written = datetime.fromisoformat((tmp_path / "tree" / ".drkit-canary-system:shop").read_text().strip())
    said = re.search(r"heartbeat (\S+) not written", line)
    assert said is not None and datetime.fromisoformat(said.group(1).replace("Z", "+00:00")) == written


def test_the_scheduler_writes_a_system_heartbeat_on_its_cron(tmp_path: Path) -> None:
    tree, state = tmp_path / "tree", tmp_path / "state"
    tree.mkdir()
    state.mkdir()
    doc = {
        "repositories": {"default": {"url": str(tmp_path / "repo"), "passphrase": {"env": "SYSTEM_TEST_PASS"}}},
        "jobs": {"tree": {"source": {"kind": "files", "paths": [str(tree)]}}},
        "systems": {"site": {"jobs": ["tree"], "heartbeat": "*/2 * * * * *"}},
    }
    config = tmp_path / "drkit.yaml"
    config.write_text(yaml.safe_dump(doc))
    beat = tree / ".drkit-canary-system:site"
    proc = subprocess.Popen(
        [*DRKIT, "--config", str(config), "schedule", "run", "--port", "0", "--state-dir", str(state)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **ENV},
    )
    try:
        deadline = time.monotonic() + 120
        while not beat.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)  # polling the file the daemon writes
        assert beat.exists(), "no heartbeat within 120 s"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert datetime.fromisoformat(beat.read_text().strip()).microsecond % 1000 == 0  # whole milliseconds
    finished = [json.loads(ln) for ln in err.splitlines() if ln.startswith("{") and "system-heartbeat" in ln]
    assert any(r.get("kind") == "system-heartbeat" and r.get("job") == "site" for r in finished), err[-2000:]


def test_a_component_nothing_reaches_is_named_and_nothing_is_written(config: Path, tmp_path: Path) -> None:
    assert (
        drkit("init", "--repo", str(tmp_path / "repo"), env={"DRKIT_PASSWORD": ENV["SYSTEM_TEST_PASS"]}).returncode == 0
    )
    proc = drkit(
        "--config",
        str(config),
        "restore",
        "--system",
        "shop",
        "--point-in-time",
        "2026-12-07T08:00:00Z",
        "--target-dir",
        str(tmp_path / "out"),
        env=ENV,
    )
    assert proc.returncode == 2, proc.stderr.decode()
    error = one_line_error(proc)
    assert error.startswith("drkit: error: system shop, job tree: no files snapshot finished at or before"), error
    assert not (tmp_path / "out").exists()


def test_the_lost_region_runbook_drills_a_system_as_one(tmp_path: Path, redis_server: RedisServer) -> None:
    """`runbook run lost-region --system site`: the system drill, held to the runbook's RTO too; both components
    hold the heartbeat written before their backups, so the system's point is proven from restored data."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_text("a\n")
    redis_server.client().set("order:1", "paid")
    repo = tmp_path / "repo"
    assert drkit("init", "--repo", str(repo), env={"DRKIT_PASSWORD": ENV["SYSTEM_TEST_PASS"]}).returncode == 0
    doc = {
        "repositories": {"default": {"url": str(repo), "passphrase": {"env": "SYSTEM_TEST_PASS"}}},
        "jobs": {
            "cache": {"source": {"kind": "redis", "url": redis_server.url}},
            "www": {"source": {"kind": "files", "paths": [str(tree)]}},
        },
        "systems": {"site": {"jobs": ["cache", "www"], "targets": {"rpo": "1h", "rto": "1h"}}},
    }
    config = tmp_path / "drkit.yaml"
    config.write_text(yaml.safe_dump(doc))
    beat = json.loads(_run(config, "system", "heartbeat", "site", "--json"))["at"]
    _run(config, "job", "run", "cache")
    _run(config, "job", "run", "www")
    wrong = drkit("--config", str(config), "runbook", "run", "redis-loss", "--system", "site", env=ENV)
    assert wrong.returncode == 2 and "a runbook of kind all" in one_line_error(wrong)
    report = tmp_path / "region.json"
    proc = drkit(
        "--config",
        str(config),
        "runbook",
        "run",
        "lost-region",
        "--system",
        "site",
        "--sandbox",
        "local",
        "--json",
        str(report),
        env=ENV,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
    system, *parts = json.loads(report.read_text())["drills"]
    assert system["job"] == "site" and sorted(p["job"] for p in parts) == ["cache", "www"]
    assert {t["name"] for t in system["targets"]} == {"rpo", "rto", "runbook.rto"}
    assert all(t["ok"] for t in system["targets"])
    heartbeat = next(c for c in system["checks"] if c["name"] == "system.heartbeat")
    assert heartbeat["ok"] and f"holds the heartbeat of {beat}; their newest are 0 s apart" in heartbeat["detail"]


def _run(config: Path, *args: str) -> bytes:
    proc = drkit("--config", str(config), *args, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
    return proc.stdout


@pytest.mark.parametrize(("late", "code"), [({"max_skew": "0s"}, 15), ({"jobs": ["never"]}, 2)])
def test_all_refuses_before_any_system_is_written(tmp_path: Path, late: dict[str, object], code: int) -> None:
    """`restore --all`: a later system refused (exit 15: beyond its max_skew; exit 2: a job never backed up)
    leaves nothing written, not the systems before it either, as `--system` refuses before writing."""
    repo = tmp_path / "repo"
    assert drkit("init", "--repo", str(repo), env={"DRKIT_PASSWORD": ENV["SYSTEM_TEST_PASS"]}).returncode == 0
    jobs = {}
    for name in ("early", "later", "never"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a.txt").write_text(f"{name}\n")
        jobs[name] = {"source": {"kind": "files", "paths": [str(tmp_path / name)]}}
    doc = {
        "repositories": {"default": {"url": str(repo), "passphrase": {"env": "SYSTEM_TEST_PASS"}}},
        "jobs": jobs,
        # sorted: "a" is restored first, "b" refuses
        "systems": {"a": {"jobs": ["early"], "max_skew": "1h"}, "b": {"jobs": ["later"], **late}},
    }
    config = tmp_path / "drkit.yaml"
    config.write_text(yaml.safe_dump(doc))
    _run(config, "job", "run", "later")
    _run(config, "job", "run", "early")
    when = datetime.now().astimezone().isoformat()  # after both backups ended
    out = tmp_path / "out"
    proc = drkit(
        "--config", str(config), "restore", "--all", "--point-in-time", when, "--target-dir", str(out), env=ENV
    )
    assert proc.returncode == code, proc.stderr.decode() + proc.stdout.decode()
    assert "system b" in one_line_error(proc)
    assert not out.exists(), sorted(str(p) for p in out.rglob("*"))
