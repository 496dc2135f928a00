"""The source registry (drkit.sources.registry): every kind, built-in or not, is found through the
``drkit.sources`` entry points; a job's ``source:`` of a plugin kind is validated by that kind's
own model; an unknown kind is one clear error listing the registered ones."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from drkit.config.models import JobConfig
from drkit.core.errors import UsageError
from drkit.sources.files.config import FilesSource
from drkit.sources.registry import HasCommands, HasDrill, SourceKind, kind_names, source_kind


def test_built_in_kinds_and_mysql_are_registered() -> None:
    assert {"files", "postgres", "redis", "mysql"} <= set(kind_names())
    for name in ("files", "postgres", "redis", "mysql"):
        kind: SourceKind = source_kind(name)
        assert kind.name == name


def test_unknown_kind_is_a_usage_error_naming_the_known_ones() -> None:
    with pytest.raises(UsageError) as err:
        source_kind("ftp")
    assert err.value.exit_code == 2
    assert "'ftp'" in err.value.message and "mysql" in err.value.message and "files" in err.value.message


def test_plugin_source_is_validated_by_its_own_model() -> None:
    job = JobConfig.model_validate(
        {"source": {"kind": "mysql", "url": "mysql://backup@db:3306/shop", "password_env": "SHOP_PW"}}
    )
    assert type(job.source) is source_kind("mysql").config_model
    assert job.source.kind == "mysql"
    assert job.canary_enabled  # a database: on by default, as for PostgreSQL and Redis
    with pytest.raises(ValidationError) as err:
        JobConfig.model_validate({"source": {"kind": "mysql", "url": "mysql://db/shop", "pasword_env": "X"}})
    assert "pasword_env" in str(err.value)
    with pytest.raises(ValidationError, match="unknown source kind 'ftp'"):
        JobConfig.model_validate({"source": {"kind": "ftp", "host": "x"}})
    with pytest.raises(ValidationError, match="a source needs a kind"):
        JobConfig.model_validate({"source": {"paths": ["/srv"]}})


def test_built_in_kinds_keep_their_models() -> None:
    job = JobConfig.model_validate({"source": {"kind": "files", "paths": ["/srv"]}})
    assert isinstance(job.source, FilesSource)
    assert source_kind("files").config_model is FilesSource


def test_mysql_brings_commands_and_a_drill_hook() -> None:
    mysql = source_kind("mysql")
    assert isinstance(mysql, HasCommands) and isinstance(mysql, HasDrill)
    assert not isinstance(source_kind("files"), HasDrill)  # the built-ins drill through their context_drill


def test_cli_lists_and_runs_plugin_commands() -> None:
    from drkit.cli.main import cli

    runner = CliRunner()
    listing = runner.invoke(cli, ["backup", "--help"])
    assert listing.exit_code == 0 and "mysql" in listing.output
    helped = runner.invoke(cli, ["restore", "mysql", "--help"])
    assert helped.exit_code == 0, helped.output
    assert "--database" in helped.output and "--repo" in helped.output


def test_plugin_source_survives_a_dump_and_reload() -> None:
    """A config is dumped and validated again (the scheduler, `config show`): the plugin's fields
    must not be cut down to the base model's."""
    job = JobConfig.model_validate({"source": {"kind": "mysql", "url": "mysql://backup@db/shop", "name": "shop"}})
    dumped = job.model_dump()
    assert dumped["source"]["url"] == "mysql://backup@db/shop"
    assert JobConfig.model_validate(dumped) == job


def test_drill_of_a_plugin_kind_stays_local_and_refuses_docker() -> None:
    from drkit.drills.runner import _sandbox_for
    from drkit.drills.sandbox.docker import SandboxUnavailable

    source = JobConfig.model_validate({"source": {"kind": "mysql", "url": "mysql://backup@db/shop"}}).source
    assert _sandbox_for(source, "auto")[0] == "local"
    with pytest.raises(SandboxUnavailable) as err:
        _sandbox_for(source, "docker")
    assert err.value.exit_code == 2 and "local sandbox" in err.value.message


def test_describe_names_the_source_without_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_PW", "s3cret-never-shown")
    job = JobConfig.model_validate(
        {"source": {"kind": "mysql", "url": "mysql://backup@db:3307/shop", "password_env": "SHOP_PW"}}
    )
    line = source_kind("mysql").describe(job.source)
    assert line == "mysql backup@db:3307 database shop"
    files = JobConfig.model_validate({"source": {"kind": "files", "paths": ["/srv", "/etc"]}})
    assert source_kind("files").describe(files.source) == "files /srv /etc"


def test_built_in_kinds_resolve_even_without_installed_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """An editable install made before the drkit.sources group existed has no such entry points: the
    built-in kinds must still resolve (pyproject.toml and entrypoints.BUILT_IN name the same objects)."""
    import tomllib
    from pathlib import Path

    from drkit.sources import entrypoints, registry

    pyproject = tomllib.loads((Path(__file__).resolve().parents[3] / "pyproject.toml").read_text())
    declared = pyproject["project"]["entry-points"]["drkit.sources"]
    assert {k: v for k, v in declared.items() if k in entrypoints.BUILT_IN} == entrypoints.BUILT_IN

    monkeypatch.setattr(entrypoints, "entry_points", lambda group: [])
    entrypoints.registered.cache_clear()
    registry.source_kind.cache_clear()
    try:
        assert entrypoints.kind_names() == ["files", "postgres", "redis"]
        assert registry.source_kind("files").name == "files"
    finally:
        entrypoints.registered.cache_clear()
        registry.source_kind.cache_clear()
