"""`drkit backup <kind>`, `drkit restore <kind>` and a kind's own commands (`drkit pg …`), found through
the registry: the ``drkit.commands`` entry points (named in package metadata, so listing them loads
nothing) or the kind object's ``HasCommands``. A command's module is imported when it is used, not when
its group is: PostgreSQL's `cmd` brings psycopg (with asyncio and ssl: ~13 MiB of peak RSS and ~0.1 s of
start-up), which a files or Redis backup or restore has no use for."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..core.extras import missing_extra
from .epilog import EXIT_CODES_EPILOG

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from ..core.errors import DrkitError
    from ..repository.repo import Repository


class SourceGroup(click.Group):
    """The `backup` and `restore` groups: one subcommand per source kind, loaded on first use: the
    ``drkit.commands`` entry point ``backup.KIND``/``restore.KIND``, else what the kind hands
    (``HasCommands``)."""

    def _which(self) -> str:
        return "restore" if self.name == "restore" else "backup"

    def list_commands(self, ctx: click.Context) -> list[str]:
        prefix = f"{self._which()}."
        declared = [name.removeprefix(prefix) for name in command_entries() if name.startswith(prefix)]
        return sorted({*self.commands, *declared, *kind_names()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            command = entry_command(f"{self._which()}.{cmd_name}", cmd_name)
            if command is None and cmd_name in kind_names() and cmd_name not in entry_kinds():
                command = plugin_command(cmd_name, self._which())
            if command is not None:
                self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)


def command_entries() -> dict[str, EntryPoint]:
    """The commands source kinds register (``drkit.commands``), from package metadata: nothing loaded."""
    from ..sources.entrypoints import commands

    return commands()


def entry_kinds() -> set[str]:
    """The kinds whose commands are entry points (their kind object is not asked: not loaded)."""
    return {name.partition(".")[2] for name in command_entries() if name.startswith(("backup.", "restore."))}


def entry_command(name: str, shown: str) -> click.Command | None:
    """The command entry point ``name`` (None: none), loaded; a missing extra stands in as ``needs_extra``."""
    ep = command_entries().get(name)
    if ep is None:
        return None
    try:
        command: click.Command = ep.load()
    except ImportError as exc:
        return needs_extra(shown, exc)
    return command


def cli_module(module: str) -> str:
    """A command table's module, relative to drkit.cli: ``cmd_x`` or a source package's ``..sources.K.cmd``."""
    return module if module.startswith(".") else f".{module}"


def kind_names() -> list[str]:
    """The registered source kinds, from package metadata (no kind, and no pydantic, is loaded)."""
    from ..sources.entrypoints import kind_names as registered

    return registered()


def plugin_command(kind: str, which: str) -> click.Command | None:
    """Command ``which`` of a source kind registered by a plugin (``drkit.sources`` entry points):
    ``backup``, ``restore``, or the kind's own group (``which`` = the kind's name)."""
    from ..core.errors import DrkitError
    from ..sources.registry import HasCommands, source_kind

    try:
        plugin = source_kind(kind)
    except DrkitError as exc:  # a broken plugin fails only where it is used, not every listing
        return _fails(which, exc)
    return plugin.commands(_Host()).get(which) if isinstance(plugin, HasCommands) else None


def _fails(name: str, err: DrkitError) -> click.Command:
    def fail() -> None:
        raise err

    return click.Command(
        name,
        callback=fail,
        help="(this source plugin cannot be loaded; run the command for the reason)",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    )


class _Host:
    """The CLI as a plugin's commands see it (``drkit.sources.registry.CliHost``)."""

    epilog = EXIT_CODES_EPILOG

    def with_repo(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        from .common import with_repo

        return with_repo(fn)

    def open_repo(self, repo_ref: Any, *, create: bool = False) -> Repository:
        from ..ops.session import open_repository
        from .cmd_backup import open_session

        return open_session(repo_ref) if create else open_repository(repo_ref.url, repo_ref.secret)

    def emit_json(self, doc: Any) -> None:
        from .output import emit_json

        emit_json(doc)

    def echo(self, line: str, *, err: bool = False) -> None:
        click.echo(line, err=err)


def needs_extra(name: str, exc: ImportError) -> click.Command:
    """Stands in for a source whose optional package is missing: listed in --help, and running it
    ends with the one line naming the extra (a bug's ImportError is raised as it was)."""
    err = missing_extra(exc)
    if err is None:
        raise exc

    def fail() -> None:
        raise err

    return click.Command(
        name,
        callback=fail,
        help=f"(needs the drkit[{err.extra}] extra)",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    )
