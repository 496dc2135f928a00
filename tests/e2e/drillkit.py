"""Helpers for drill tests: a local repository, a drkit.yaml naming it, and the CLI run on it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml
from clirun import drkit

PASS_ENV = "DRILL_TEST_PASSPHRASE"
PASSPHRASE = "drill-Test-Passphrase-93a1"
ENV = {PASS_ENV: PASSPHRASE, "DRKIT_PASSWORD": PASSPHRASE}


def init_repo(path: Path) -> str:
    proc = drkit("init", "--repo", str(path), env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    path.chmod(0o755)
    return str(path)


def write_config(path: Path, repo: str, jobs: dict[str, Any]) -> Path:
    doc = {"repositories": {"default": {"url": repo, "passphrase": {"env": PASS_ENV}}}, "jobs": jobs}
    path.write_text(yaml.safe_dump(doc))
    return path


def run(config: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[bytes]:
    return drkit("--config", str(config), *args, env=ENV, timeout=timeout)


def ok(config: Path, *args: str) -> bytes:
    proc = run(config, *args)
    assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
    return proc.stdout


def drill(config: Path, tmp: Path, *args: str) -> tuple[int, dict[str, Any], str, bytes]:
    """Run `drkit drill` with every report; (exit code, JSON report, JUnit text, prom text)."""
    js, junit, prom = tmp / "drill.json", tmp / "drill.xml", tmp / "drill.prom"
    proc = run(
        config, "drill", *args, "--sandbox", "local", "--json", str(js), "--junit", str(junit), "--prom-file", str(prom)
    )
    err = proc.stderr.decode()
    assert "Traceback" not in err, err
    assert js.exists(), err + proc.stdout.decode()
    return proc.returncode, json.loads(js.read_text()), junit.read_text(), prom.read_bytes()
