"""A job's ``source:`` is validated by its kind's own model, found through the registry (issue 23): the
built-in kinds' models live in their packages (``drkit/sources/KIND/config.py``) like a plugin's, and
drkit.config names no kind. Problems read the same for every kind (``jobs.NAME.source.KIND.FIELD``),
a model validated once is accepted again (a dumped config reloaded), and the JSON schema of ``source``
is every registered kind's model."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Literal

import pytest
from pydantic import ValidationError, field_validator
from pydantic_core import PydanticCustomError

from drkit.config.load import _problems
from drkit.config.models import DrkitConfig, JobConfig
from drkit.sources import registry
from drkit.sources.files.config import FilesSource
from drkit.sources.registry import SourceConfig, kind_names, source_kind


def _problems_of(jobs: dict[str, object]) -> list[str]:
    with pytest.raises(ValidationError) as err:
        DrkitConfig.model_validate({"jobs": {name: {"source": src} for name, src in jobs.items()}})
    return [p for p in _problems(err.value) if not p.startswith("jobs.") or ".repository" not in p]


def test_every_kind_s_problems_are_under_its_name() -> None:
    problems = _problems_of(
        {
            "db": {"kind": "postgres", "dsn": "postgresql://u:pw@h/db"},
            "shop": {"kind": "mysql", "url": "mysql://b@db/shop", "pasword_env": "X"},
            "tree": {"kind": "files", "paths": ["/srv"], "name": "x"},
            "none": {"paths": ["/srv"]},
            "ftp": {"kind": "ftp"},
        }
    )
    assert "jobs.db.source.postgres.dsn: put the password in `password:` as a secret reference, not in the URL" in (
        problems
    )
    assert "jobs.shop.source.mysql.pasword_env: Extra inputs are not permitted" in problems
    assert any(p.startswith("jobs.tree.source.files.name: not a field of a files source") for p in problems)
    assert any(p.startswith("jobs.none.source: a source needs a kind (one of: files,") for p in problems)
    assert any(p.startswith("jobs.ftp.source: unknown source kind 'ftp'") for p in problems)


def test_a_built_in_kind_s_model_is_the_registry_s_and_survives_a_reload() -> None:
    job = JobConfig.model_validate(
        {"source": {"kind": "redis", "url": "redis://cache:6379", "aof_dir": "/a", "archive": {}}}
    )
    assert type(job.source) is source_kind("redis").config_model
    assert JobConfig.model_validate(job.model_dump()) == job
    files = JobConfig.model_validate({"source": {"kind": "files", "paths": ["/srv"]}})
    assert isinstance(files.source, FilesSource) and "name" not in files.model_dump()["source"]
    assert JobConfig.model_validate(files.model_dump()) == files


def test_the_json_schema_of_a_source_is_every_kind_s_model() -> None:
    schema = JobConfig.model_json_schema()["properties"]["source"]
    kinds = sorted(branch["properties"]["kind"]["const"] for branch in schema["oneOf"])
    assert kinds == kind_names()
    postgres = next(b for b in schema["oneOf"] if b["properties"]["kind"]["const"] == "postgres")
    assert "dsn" in postgres["required"]


def test_drill_images_name_kinds_with_a_container_sandbox() -> None:
    job = {"source": {"kind": "files", "paths": ["/srv"]}}
    images = {"files": "python:3.12-slim", "postgres": "mirror/postgres:16", "redis": "mirror/redis:7"}
    assert JobConfig.model_validate({**job, "drill": {"images": images}}).drill.images == images
    for kind in ("mysql", "ftp"):  # mysql drills only in a local sandbox; ftp is no kind
        with pytest.raises(ValidationError, match=f"'{kind}' has no container sandbox"):
            JobConfig.model_validate({**job, "drill": {"images": {kind: "x"}}})


class _Custom(SourceConfig):
    """A plugin kind's model whose validator raises pydantic's documented PydanticCustomError (a type of
    its own, no built-in error type)."""

    kind: Literal["custom"]
    bucket: str

    @field_validator("bucket")
    @classmethod
    def _lower(cls, value: str) -> str:
        if value != value.lower():
            raise PydanticCustomError("bucket_case", "bucket {bucket} must be lower case", {"bucket": value})
        return value


def test_a_plugin_model_s_own_error_type_is_a_problem_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Moving the problem under the kind's name must not need the error type to be one pydantic knows:
    a custom type once made config loading end in a KeyError (a traceback), not a problem line."""
    real = registry.source_kind
    monkeypatch.setattr(
        registry, "source_kind", lambda kind: SimpleNamespace(config_model=_Custom) if kind == "custom" else real(kind)
    )
    problems = _problems_of({"store": {"kind": "custom", "bucket": "Shop"}})
    assert "jobs.store.source.custom.bucket: bucket Shop must be lower case" in problems
