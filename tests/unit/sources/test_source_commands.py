"""A source kind's commands come through the registry (``drkit.commands`` entry points, or the kind's
``HasCommands``), not through tables in drkit/cli: the built-in kinds register theirs in pyproject.toml
(with entrypoints.BUILT_IN_COMMANDS for a stale editable install), and finding or listing them loads
neither the kind object nor pydantic (``drkit pg wal-fetch`` runs once per WAL segment)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from click.testing import CliRunner

from drkit.sources import entrypoints, registry

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


@pytest.fixture
def fresh_cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The CLI's root group caches loaded commands: a fresh one for each case, the caches cleared after."""
    from drkit.cli import main

    monkeypatch.setattr(main.cli, "commands", {})
    entrypoints.commands.cache_clear()
    yield monkeypatch
    monkeypatch.undo()  # the real entry points again, before the caches fill from them
    for cached in (entrypoints.commands, entrypoints.registered, registry.source_kind):
        cached.cache_clear()


def test_pyproject_and_the_fallback_name_the_same_commands() -> None:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"]["drkit.commands"]
    assert declared == entrypoints.BUILT_IN_COMMANDS
    assert set(entrypoints.commands()) >= set(entrypoints.BUILT_IN_COMMANDS)


def test_built_in_commands_resolve_without_installed_entry_points(fresh_cli: pytest.MonkeyPatch) -> None:
    from drkit.cli.main import cli

    fresh_cli.setattr(entrypoints, "entry_points", lambda group: [])
    entrypoints.commands.cache_clear()
    runner = CliRunner()
    for args in (
        ["pg", "--help"],
        ["redis", "--help"],
        ["backup", "postgres", "--help"],
        ["restore", "files", "--help"],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, (args, result.output)


def test_a_command_registered_by_another_distribution_is_found_and_listed(fresh_cli: pytest.MonkeyPatch) -> None:
    """What a new kind's distribution declares is all the CLI needs: no table in drkit/cli names it."""
    from drkit.cli.main import cli

    extra = [
        EntryPoint("backup.demo", "drkit.cli.cmd_tag:tag", entrypoints.COMMANDS_GROUP),
        EntryPoint("demo", "drkit.cli.cmd_tag:tag", entrypoints.COMMANDS_GROUP),
    ]
    fresh_cli.setattr(entrypoints, "entry_points", lambda group: extra if group == entrypoints.COMMANDS_GROUP else [])
    entrypoints.commands.cache_clear()
    runner = CliRunner()
    assert "demo" in runner.invoke(cli, ["--help"]).output
    assert "demo" in runner.invoke(cli, ["backup", "--help"]).output
    helped = runner.invoke(cli, ["backup", "demo", "--help"])
    assert helped.exit_code == 0 and "Change the tags" in helped.output
    assert runner.invoke(cli, ["restore", "demo"]).exit_code == 2  # registered for backup only


def test_a_kind_s_commands_load_neither_the_kind_nor_pydantic() -> None:
    """(Listing every command, `drkit --help`, loads the kinds that hand theirs: mysql.)"""
    code = (
        "import sys\n"
        "from drkit.cli.main import cli\n"
        "for args in (['pg', 'wal-fetch', '--help'], ['backup', 'redis', '--help'], ['redis', '--help'],"
        " ['restore', 'postgres', '--help']):\n"
        "    try:\n"
        "        cli.main(args=args, prog_name='drkit', standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'"
        " or m in ('drkit.sources.postgres.plugin', 'drkit.sources.redis.plugin', 'drkit.config')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stdout, proc.stdout
