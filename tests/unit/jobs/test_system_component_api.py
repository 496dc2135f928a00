"""What a kind's ``restore_system_component`` gets besides the plan: the job's ``source:`` and its repository,
so a kind at the sources layer (MySQL) restores without importing the jobs layer; and a kind whose component
has no directory form (``server_only``) is refused a directory before anything is written."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from drkit.config import DrkitConfig
from drkit.core.errors import UsageError
from drkit.jobs import system_restore
from drkit.sources.system import ComponentPlan

AT = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
REPOS = {"default": {"url": "/nowhere", "passphrase": {"env": "PW"}}}
CONFIG = DrkitConfig.model_validate(
    {"repositories": REPOS, "jobs": {"shop": {"source": {"kind": "mysql", "url": "mysql://backup@db/shop"}}}}
)
PLAN = ComponentPlan(job="shop", kind="mysql", point=AT, how="MySQL dump", snapshot="abc123")


def test_a_component_gives_its_source_and_opens_its_repository(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    opened: list[Any] = []
    repo = object()
    monkeypatch.setattr(
        system_restore, "open_job_repository", lambda cfg, job: (opened.append(job) or repo, "/nowhere")
    )
    req = system_restore.SystemRequest(point_in_time="2031-05-06T07:08:09Z", target_dir=tmp_path)
    out = system_restore.ComponentResult(job="shop", kind="mysql", point="", skew_seconds=0.0, how="", target="")
    component = system_restore.Component(config=CONFIG, plan=PLAN, target=tmp_path, when=AT, req=req, out=out)
    assert component.source.kind == "mysql" and component.source.url == "mysql://backup@db/shop"
    assert component.repository() is repo and opened == [CONFIG.job("shop")]


def test_a_server_only_kind_is_refused_a_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class Loads:
        server_only = True

        def load_target(self, url: str) -> Any:
            return url

    monkeypatch.setattr(system_restore, "source_kind", lambda name: Loads())
    req = system_restore.SystemRequest(point_in_time="2031-05-06T07:08:09Z", target_dir=tmp_path, system="shop")
    with pytest.raises(UsageError, match="a mysql component is loaded into a running server, not a directory"):
        system_restore._targets("shop", [PLAN], req)
    into = system_restore.SystemRequest(
        point_in_time="2031-05-06T07:08:09Z", target_dir=tmp_path, system="shop", into=(("shop", "x://db"),)
    )
    assert system_restore._targets("shop", [PLAN], into) == {"shop": "x://db"}
