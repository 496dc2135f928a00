"""`drkit backup <kind>` and `drkit restore <kind>`: each source's module is imported when its
subcommand is used, not when the group is. PostgreSQL's `cmd` brings psycopg (with asyncio and ssl:
~13 MiB of peak RSS and ~0.1 s of start-up), which a files or Redis backup or restore has no use for."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING, Any

import click

from ..core.extras import missing_extra
from .epilog import EXIT_CODES_EPILOG

if TYPE_CHECKING:
    from ..core.errors import DrkitError
    from ..repository.repo import Repository

# kind -> (module, its `backup <kind>` command, its `restore <kind>` command); a module named from
# drkit.cli (`..sources.KIND.cmd`) is the CLI slice of a source package
SOURCES: dict[str, tuple[str, str, str]] = {
    "files": ("..sources.files.cmd", "backup_files_cmd", "restore_files_cmd"),
    "postgres": ("..sources.postgres.cmd", "backup_postgres", "restore_postgres"),
    "redis": ("..sources.redis.cmd", "backup_redis", "restore_redis"),
}


class SourceGroup(click.Group):
    """The `backup` and `restore` groups: one subcommand per source, loaded on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *SOURCES, *kind_names()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name not in SOURCES and cmd_name in kind_names():
            command = plugin_command(cmd_name, "restore" if self.name == "restore" else "backup")
            if command is not None:
                self.add_command(command, cmd_name)
        elif cmd_name not in self.commands and cmd_name in SOURCES:
            module, backup_attr, restore_attr = SOURCES[cmd_name]
            attr = restore_attr if self.name == "restore" else backup_attr
            try:
                command = getattr(import_module(cli_module(module), __package__), attr)
            except ImportError as exc:
                command = needs_extra(cmd_name, exc)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)


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
