from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirun import drkit

ENV = {"DRKIT_PASSWORD": "forget-pw"}
pytestmark = pytest.mark.integration


def test_forget_dry_run_then_apply(tmp_path: Path) -> None:
    repo = str(tmp_path / "repo")
    assert drkit("init", "--repo", repo, env=ENV).returncode == 0
    for i in range(5):
        assert drkit("backup", "stdin", "--name", "db", "--repo", repo, stdin=b"v%d" % i, env=ENV).returncode == 0
    before = json.loads(drkit("snapshots", "--json", "--repo", repo, env=ENV).stdout)
    dry = drkit("forget", "--keep-last", "2", "--dry-run", "--json", "--repo", repo, env=ENV)
    assert dry.returncode == 0
    decisions = json.loads(dry.stdout)["decisions"]
    assert sum(d["keep"] for d in decisions) == 2
    assert all(d["reasons"] for d in decisions if d["keep"])
    assert len(json.loads(drkit("snapshots", "--json", "--repo", repo, env=ENV).stdout)) == 5  # dry run

    assert drkit("forget", "--keep-last", "2", "--repo", repo, env=ENV).returncode == 0
    after = json.loads(drkit("snapshots", "--json", "--repo", repo, env=ENV).stdout)
    assert [s["id"] for s in after] == [s["id"] for s in before[-2:]]
    restored = drkit("restore", after[-1]["id"][:8], "--to", "-", "--repo", repo, env=ENV)
    assert restored.stdout == b"v4"
    assert drkit("check", "--repo", repo, env=ENV).returncode == 0
