"""The layers above the sources ask a job's kind (through the registry), never its name: whether its
canary is on by default, where its drill runs, and what its archive adds to the catalog RPO. Each test
hands in a stand-in kind under a built-in name, so a chain on the name would answer differently."""

from __future__ import annotations

import pytest

from drkit.config import JobConfig
from drkit.sources import registry

REDIS_JOB = {"source": {"kind": "redis", "url": "redis://cache:6379"}}
FILES_JOB = {"source": {"kind": "files", "paths": ["/srv"]}}


def test_canary_default_is_the_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    files, redis = JobConfig.model_validate(FILES_JOB), JobConfig.model_validate(REDIS_JOB)
    assert not files.canary_enabled and redis.canary_enabled  # the built-ins as before

    class Quiet:
        canary_by_default = False

    monkeypatch.setattr(registry, "source_kind", lambda name: Quiet())
    assert not redis.canary_enabled
    assert JobConfig.model_validate({**REDIS_JOB, "canary": {"enabled": True}}).canary_enabled  # as set wins
