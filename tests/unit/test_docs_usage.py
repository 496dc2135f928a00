"""docs/usage.md cannot fall behind the CLI: every command and subcommand `drkit --help` lists, every global option,
and every exit code of drkit/core/errors.py is in it. The commands are read from the click tree itself (hidden
commands left out), so a new command without a line in docs/usage.md fails here."""

from __future__ import annotations

import re
from pathlib import Path

import click

from drkit.cli.main import cli
from drkit.core.errors import EXIT_CODES

USAGE = Path(__file__).resolve().parents[2] / "docs" / "usage.md"


def _commands(group: click.Group, ctx: click.Context, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        found.append((*path, name))
        if isinstance(command, click.Group):
            found.extend(_commands(command, ctx, (*path, name)))
    return found


def _documented(text: str) -> set[str]:
    """Each `drkit A B` the doc names; `drkit A B\\|C` (a table cell's alternatives) is `drkit A B`, `drkit A C`."""
    names: set[str] = set()
    for words in re.findall(r"drkit((?: [a-z][a-z-]*(?:\\\|[a-z][a-z-]*)*)+)", text):
        path: list[str] = []
        for word in words.split():
            alternatives = word.split("\\|")
            names.update(" ".join([*path, alt]) for alt in alternatives)
            path.append(alternatives[0])
    return names


def test_the_alternatives_are_read() -> None:
    assert _documented("`drkit key list\\|add` and drkit pg windows") >= {"key list", "key add", "pg windows", "pg"}


def test_every_command_is_in_usage_md() -> None:
    documented = _documented(USAGE.read_text())
    commands = [" ".join(path) for path in _commands(cli, click.Context(cli))]
    assert len(commands) > 40, commands
    missing = [name for name in commands if name not in documented]
    assert not missing, f"docs/usage.md does not name: {', '.join(f'drkit {m}' for m in missing)}"


def test_every_global_option_is_in_usage_md() -> None:
    text = USAGE.read_text()
    options = [opt for param in cli.params for opt in param.opts if opt.startswith("--") and opt != "--help"]
    assert "--workers" in options
    missing = [opt for opt in options if not re.search(rf"(?<![\w-]){opt}(?![\w-])", text)]
    assert not missing, f"docs/usage.md does not name the global options {missing}"


def test_every_exit_code_is_in_usage_md() -> None:
    section = USAGE.read_text().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([\d /]+) \|", section, re.MULTILINE)
    documented = {int(code) for row in rows for code in row.split("/")}
    assert documented == set(EXIT_CODES), f"docs/usage.md's exit codes {sorted(documented ^ set(EXIT_CODES))} differ"
