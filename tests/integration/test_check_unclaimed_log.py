"""`drkit check` on a repository holding a log of a kind no installed source plugin declares (a
plugin used elsewhere, not installed here): it cannot be read back, so check fails (exit 13) with one
line naming the prefix, never calls the repository clean; without that log the same repository checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from clirun import drkit

pytestmark = pytest.mark.integration

ENV = {"DRKIT_PASSWORD": "pw-unclaimed-log"}


def test_check_names_a_log_no_installed_plugin_declares(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    assert drkit("init", "--repo", str(repo), env=ENV).returncode == 0
    assert drkit("backup", "stdin", "--name", "s", "--repo", str(repo), env=ENV, stdin=b"data\n").returncode == 0
    log = repo / "logs" / "oplog" / "00000001"
    log.mkdir(parents=True)
    for n in range(2):  # what another plugin's LogArchive wrote (its bytes do not matter: nobody can read them)
        (log / f"0000000{n}").write_bytes(b"DKO1" + bytes(64))
    proc = drkit("check", "--read-data", "--repo", str(repo), "--json", env=ENV)
    assert proc.returncode == 13, proc.stderr.decode()
    assert json.loads(proc.stdout)["errors"] == [
        "log archive logs/oplog/: 2 objects of a log kind no installed source plugin declares; not checked "
        "(install the source plugin that wrote them)"
    ]
    shutil.rmtree(repo / "logs")
    assert drkit("check", "--read-data", "--repo", str(repo), env=ENV).returncode == 0
