"""The daemon answers /healthz while it reads its repositories at start-up (their snapshots, drills and
size, for the metrics that survive a restart). That read is slow on a large repository and takes minutes
on a storage that hangs -- an S3 endpoint that accepts connections and never answers waits out botocore's
read timeout on every attempt -- and the Kubernetes liveness probe (10 s, then 3 x 30 s) restarted a
daemon that had not opened its HTTP port yet, over and over: no backup ran on any repository. Real
`drkit schedule run`; the hanging endpoint is a listening socket that never reads."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from clirun import DRKIT

pytestmark = pytest.mark.integration

_SCRIPT = Path(sys.executable).with_name("drkit")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else DRKIT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthz(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


def test_healthz_answers_while_a_hanging_repository_is_read(tmp_path: Path) -> None:
    with socket.socket() as hanging:
        hanging.bind(("127.0.0.1", 0))
        hanging.listen(64)  # connections complete in the kernel's backlog; nothing is ever read or answered
        endpoint = f"http://127.0.0.1:{hanging.getsockname()[1]}"
        config = tmp_path / "drkit.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "repositories": {
                        "slow": {"url": f"s3://bucket/drkit?endpoint={endpoint}", "passphrase": {"env": "STARTUP_PW"}}
                    },
                    "jobs": {
                        "data": {
                            "source": {"kind": "files", "paths": [str(tmp_path)]},
                            "repository": "slow",
                            "schedule": "0 3 * * *",
                        }
                    },
                }
            )
        )
        port = _free_port()
        env = {**os.environ, "STARTUP_PW": "startup-Pass-93c1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
        proc = subprocess.Popen(
            [
                *COMMAND,
                "--config",
                str(config),
                "schedule",
                "run",
                "--port",
                str(port),
                "--state-dir",
                str(tmp_path / "state"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            # the repository read hangs for drkit's whole retry window (5 min): a minute to start, however loaded
            deadline, status = time.monotonic() + 60, None
            while time.monotonic() < deadline and status is None and proc.poll() is None:
                status = _healthz(port)
                time.sleep(0.2)
            assert proc.poll() is None, f"the daemon exited with {proc.returncode}"
            assert status == 200, "no /healthz within 60 s while the repository read hangs"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
