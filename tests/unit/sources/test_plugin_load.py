"""A source plugin that cannot be loaded is one usage error naming it, raised where its kind is used;
a missing drkit extra behind it is reported as that extra (drkit.sources.registry._load)."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest
from click.testing import CliRunner

from drkit.core.errors import UsageError
from drkit.core.extras import MissingExtra
from drkit.sources import entrypoints, registry

GROUP = "drkit.sources"


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    # the kinds' group only: the drkit.commands group (the built-in kinds' commands) stays as drkit declares it
    monkeypatch.setattr(entrypoints, "entry_points", lambda group: list(found.values()) if group == GROUP else [])
    entrypoints.registered.cache_clear()
    registry.source_kind.cache_clear()
    yield found
    monkeypatch.undo()
    for cached in (entrypoints.registered, entrypoints.commands, registry.source_kind):
        cached.cache_clear()


def test_a_plugin_whose_module_is_missing_is_a_usage_error(plugins: dict[str, EntryPoint]) -> None:
    plugins["ftp"] = EntryPoint("ftp", "drkit_ftp_nowhere.plugin:FTP", GROUP)
    with pytest.raises(UsageError) as err:
        registry.source_kind("ftp")
    assert err.value.exit_code == 2
    assert err.value.message == (
        "source plugin 'ftp' (drkit_ftp_nowhere.plugin:FTP) cannot be loaded: "
        "ModuleNotFoundError: No module named 'drkit_ftp_nowhere'"
    )
    assert registry.source_kind("files").name == "files"  # the others are unaffected


def test_a_plugin_lacking_its_object_or_raising_on_import_is_a_usage_error(plugins: dict[str, EntryPoint]) -> None:
    plugins["nil"] = EntryPoint("nil", "drkit.sources.registry:NO_SUCH_KIND", GROUP)
    with pytest.raises(UsageError, match="source plugin 'nil' .* cannot be loaded: AttributeError"):
        registry.source_kind("nil")


def test_a_missing_extra_behind_a_plugin_names_the_extra(plugins: dict[str, EntryPoint]) -> None:
    plugins["s3ish"] = EntryPoint("s3ish", "boto3_not_installed_here:X", GROUP)

    def load(self: EntryPoint) -> object:
        raise ModuleNotFoundError("No module named 'boto3'", name="boto3")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(EntryPoint, "load", load)
        with pytest.raises(MissingExtra) as err:
            registry.source_kind("s3ish")
    assert err.value.extra == "s3"


def test_the_cli_lists_a_broken_plugin_and_fails_only_when_it_runs(plugins: dict[str, EntryPoint]) -> None:
    from drkit.cli.main import cli

    plugins["ftp"] = EntryPoint("ftp", "drkit_ftp_nowhere.plugin:FTP", GROUP)
    runner = CliRunner()
    listing = runner.invoke(cli, ["backup", "--help"])
    assert listing.exit_code == 0, listing.output
    assert "ftp" in listing.output and "cannot be loaded" in listing.output
    assert runner.invoke(cli, ["--help"]).exit_code == 0
    used = runner.invoke(cli, ["backup", "ftp", "somewhere"])  # main() turns it into one line, exit 2
    assert isinstance(used.exception, UsageError)
    assert used.exception.message.startswith("source plugin 'ftp' (drkit_ftp_nowhere.plugin:FTP) cannot be loaded")


class _Impostor:
    name = "files"


IMPOSTOR = _Impostor()


@pytest.mark.usefixtures("plugins")
def test_a_kind_claimed_by_two_packages_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second package registering ``files`` with its own object would win or lose by the order of
    sys.path; neither is silently used: the kind is one usage error naming both."""
    theirs = EntryPoint("files", f"{__name__}:IMPOSTOR", GROUP)
    ours = EntryPoint("files", entrypoints.BUILT_IN["files"], GROUP)
    monkeypatch.setattr(entrypoints, "entry_points", lambda group: [ours, theirs])
    with pytest.raises(UsageError) as err:
        registry.source_kind("files")
    assert err.value.exit_code == 2
    assert err.value.message == (
        f"source kind 'files' is registered by more than one package: {entrypoints.BUILT_IN['files']}, "
        f"{__name__}:IMPOSTOR"
    )
    monkeypatch.setattr(entrypoints, "entry_points", lambda group: [ours, ours])  # the same object twice: fine
    registry.source_kind.cache_clear()
    assert registry.source_kind("files").name == "files"
