"""docs/usage.md cannot fall behind the CLI: every command and subcommand `drkit --help` lists, every global option,
and every exit code of drkit/core/errors.py is in it. The commands are read from the click tree itself (hidden
commands left out), so a new command without a line in docs/usage.md fails here."""

from __future__ import annotations

import re
import subprocess
import sys
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


def _installed_commands() -> list[str]:
    """The command paths of a fresh interpreter: in this one, other tests may have left fake plugins' commands
    cached in the lazy groups."""
    code = (
        "import click, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_docs_usage import _commands\n"
        "from drkit.cli.main import cli\n"
        "print('\\n'.join(' '.join(p) for p in _commands(cli, click.Context(cli))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split("\n")[:-1]


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
    commands = _installed_commands()
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
