"""The daemon's maintenance (prune, check, copy) opens a repository with its configured bandwidth limits
(``repositories.NAME.limit_upload`` / ``limit_download``), as jobs do; without them, no limiting wrapper."""

from __future__ import annotations

from pathlib import Path

import pytest
from clirun import drkit

from drkit.config import DrkitConfig
from drkit.core.metrics import new_registry
from drkit.scheduler.maintenance import Maintainer, MaintenanceState
from storage_backends import Limits, RateLimitedBackend

PW = "maintenance limits"


def _chain(backend: object) -> list[object]:
    found = []
    while backend is not None:
        found.append(backend)
        backend = getattr(backend, "inner", None)
    return found


@pytest.mark.parametrize(("extra", "expected"), [({}, None), ({"limit_download": 64}, Limits(0, 64 << 10))])
def test_maintenance_opens_with_the_configured_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: dict[str, int], expected: Limits | None
) -> None:
    repo = tmp_path / "repo"
    assert drkit("init", "--repo", str(repo), env={"DRKIT_PASSWORD": PW}).returncode == 0
    monkeypatch.setenv("DRKIT_PASSWORD", PW)
    config = DrkitConfig.model_validate(
        {"repositories": {"default": {"url": str(repo), "passphrase": {"env": "DRKIT_PASSWORD"}, **extra}}}
    )
    _, metrics = new_registry(version=None)
    opened = Maintainer(config, metrics, MaintenanceState(tmp_path / "state"))._open("default")
    try:
        limited = [b for b in _chain(opened.backend) if isinstance(b, RateLimitedBackend)]
        assert [b.limits for b in limited] == ([] if expected is None else [expected])
    finally:
        opened.close()


def test_scheduled_copy_holds_each_side_to_its_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduled copy reads the source under the source's limits and writes the target under the target's
    (it opened both unlimited before)."""
    import drkit.ops.copy as copy_module

    for name in ("repo", "off"):
        assert drkit("init", "--repo", str(tmp_path / name), env={"DRKIT_PASSWORD": PW}).returncode == 0
    monkeypatch.setenv("DRKIT_PASSWORD", PW)
    secret = {"passphrase": {"env": "DRKIT_PASSWORD"}}
    config = DrkitConfig.model_validate(
        {
            "repositories": {
                "default": {
                    "url": str(tmp_path / "repo"),
                    **secret,
                    "limit_download": 64,
                    "copy": {"schedule": "0 3 * * *", "to": "offsite"},
                },
                "offsite": {"url": str(tmp_path / "off"), **secret, "limit_upload": 128},
            }
        }
    )
    seen: dict[str, list[Limits]] = {}
    real_open = copy_module.open_repository

    def recording_open(url: str, *args: object, **kwargs: object) -> object:
        repo = real_open(url, *args, **kwargs)  # type: ignore[arg-type]
        seen[Path(url).name] = [b.limits for b in _chain(repo.backend) if isinstance(b, RateLimitedBackend)]
        return repo

    monkeypatch.setattr(copy_module, "open_repository", recording_open)
    _, metrics = new_registry(version=None)
    done = Maintainer(config, metrics, MaintenanceState(tmp_path / "state"))._copy("default")
    assert done["to"] == "offsite"
    assert seen == {"repo": [Limits(0, 64 << 10)], "off": [Limits(128 << 10, 0)]}
