"""A plugin kind's drill hook (``HasDrill``) as the runner drives it: the request names the sandbox the runner
chose and the job's image; the result reports the sandbox the hook says it restored in (not the one chosen);
a ``UsageError`` before the hook's first phase refuses the drill with its own exit code, while a failure
once a phase began -- or an exception a third party's hook did not expect -- is a failed ``restore`` check.
The stand-in kind is handed in under a built-in name (the runner asks the registry, never the name)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from drkit.config import DrkitConfig
from drkit.core.errors import DrkitError, UsageError
from drkit.drills import runner
from drkit.repository.format import RepoConfig
from drkit.repository.repo import Repository
from drkit.sources.registry import DrillReport, DrillRequest
from storage_backends.testing.memory import MemoryBackend

IMAGE = "registry.example/stand-in:1"


class StandIn:
    """A kind with a container sandbox (``local_drill``) and a drill hook of its own."""

    def __init__(self, hook: Callable[[DrillRequest], DrillReport]) -> None:
        self.hook = hook
        self.requests: list[DrillRequest] = []

    def local_drill(self, config: Any) -> str | None:
        return None  # the sandbox choice decides

    def drill(self, request: DrillRequest) -> DrillReport:
        self.requests.append(request)
        return self.hook(request)


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch) -> DrkitConfig:
    monkeypatch.setenv("STAND_IN_PW", "stand-in-passphrase")
    repo = Repository.init(MemoryBackend(), "stand-in-passphrase", RepoConfig())
    monkeypatch.setattr(runner, "open_job_repository", lambda config, job: (repo, "memory://"))
    monkeypatch.setattr(runner, "choose_sandbox", lambda requested: ("docker", "a stand-in engine"))
    job = {
        "source": {"kind": "redis", "url": "redis://cache:6379"},
        "canary": {"enabled": False},
        "drill": {"images": {"redis": IMAGE}},
    }
    repos = {"default": {"url": "/nowhere", "passphrase": {"env": "STAND_IN_PW"}}}
    return DrkitConfig.model_validate({"repositories": repos, "jobs": {"cache": job}})


def restored_in(sandbox: str) -> Callable[[DrillRequest], DrillReport]:
    def hook(request: DrillRequest) -> DrillReport:
        with request.phase("restore"):
            pass
        return DrillReport(snapshot_id="0" * 64, checks=[("restore", True, "restored")], sandbox=sandbox)

    return hook


@pytest.mark.parametrize("ran", ["local", "docker"])
def test_the_request_names_the_chosen_sandbox_and_the_result_what_ran(
    config: DrkitConfig, monkeypatch: pytest.MonkeyPatch, ran: str
) -> None:
    kind = StandIn(restored_in(ran))
    monkeypatch.setattr(runner, "source_kind", lambda name: kind)
    result = runner.run_drill(config, "cache", sandbox="auto")
    (request,) = kind.requests
    assert (request.sandbox, request.image) == ("docker", IMAGE)
    assert result.sandbox == ran and result.checks_ok, result.checks


def test_a_report_that_does_not_say_means_a_local_restore(config: DrkitConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    def unaware(request: DrillRequest) -> DrillReport:  # a hook written before DrillRequest.sandbox
        return DrillReport(snapshot_id="0" * 64, checks=[("restore", True, "restored")])

    monkeypatch.setattr(runner, "source_kind", lambda name: StandIn(unaware))
    assert runner.run_drill(config, "cache", sandbox="auto").sandbox == "local"


def test_a_usage_error_before_the_first_phase_refuses_the_drill(
    config: DrkitConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuses(request: DrillRequest) -> DrillReport:
        raise UsageError("a stand-in backup has no point-in-time restore")

    monkeypatch.setattr(runner, "source_kind", lambda name: StandIn(refuses))
    with pytest.raises(UsageError, match="no point-in-time restore") as raised:
        runner.run_drill(config, "cache", point_in_time="2031-05-06T07:08:09Z")
    assert raised.value.exit_code == 2


def _fails_in_restore(error: Exception) -> Callable[[DrillRequest], DrillReport]:
    def hook(request: DrillRequest) -> DrillReport:
        with request.phase("restore"):
            raise error

    return hook


def _fails_before_restore(request: DrillRequest) -> DrillReport:
    raise DrkitError("the stand-in sandbox server did not start")


@pytest.mark.parametrize(
    ("hook", "detail"),
    [
        (_fails_in_restore(UsageError("no snapshot matches 'latest'")), "no snapshot matches 'latest'"),
        (_fails_before_restore, "the stand-in sandbox server did not start"),
        (_fails_in_restore(KeyError("page_size")), "the redis drill hook failed: KeyError: 'page_size'"),
    ],
)
def test_other_failures_are_the_drills_failed_restore_check(
    config: DrkitConfig, monkeypatch: pytest.MonkeyPatch, hook: Callable[[DrillRequest], DrillReport], detail: str
) -> None:
    monkeypatch.setattr(runner, "source_kind", lambda name: StandIn(hook))
    result = runner.run_drill(config, "cache", sandbox="auto")
    assert [(c.name, c.ok, c.detail) for c in result.checks] == [("restore", False, detail)]
    assert result.id  # recorded in the repository, as every drill that ran
