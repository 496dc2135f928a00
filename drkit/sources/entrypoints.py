"""The names of the registered source kinds (entry-point group ``drkit.sources``) and of the commands
they bring (group ``drkit.commands``), read from package metadata without loading any kind: the CLI
asks for them on every ``drkit backup|restore`` and must not pay for pydantic or a database driver
(``registry`` loads a kind when it is used; the CLI a command when it runs)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points

GROUP = "drkit.sources"
COMMANDS_GROUP = "drkit.commands"  # `backup.KIND`, `restore.KIND`: `drkit backup|restore KIND`; else `drkit NAME`


# The built-in kinds, as pyproject.toml registers them: also used when the installed metadata lacks
# them (an editable install made before the group existed), so a stale install still backs up. A kind
# added after the group (mysql) is not here on purpose: every install that has it has its entry point,
# and drkit must work without it (tests/unit/test_source_isolation.py).
BUILT_IN = {
    "files": "drkit.sources.files.plugin:FILES",
    "postgres": "drkit.sources.postgres.plugin:POSTGRES",
    "redis": "drkit.sources.redis.plugin:REDIS",
}


@cache
def registered() -> dict[str, EntryPoint]:
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    for name, value in BUILT_IN.items():
        found.setdefault(name, EntryPoint(name, value, GROUP))
    return found


def claims(name: str) -> list[str]:
    """The objects registered as kind ``name`` when more than one distribution claims it with different
    objects (``[]`` otherwise): which one a lookup got would depend on the order of sys.path, so a
    package could silently take over another's kind (a built-in's too); the registry refuses the kind."""
    values = sorted({ep.value for ep in entry_points(group=GROUP) if ep.name == name})
    return values if len(values) > 1 else []


def kind_names() -> list[str]:
    """Every registered kind, sorted."""
    return sorted(registered())


# The built-in kinds' commands, as pyproject.toml registers them (the same fallback as BUILT_IN).
BUILT_IN_COMMANDS = {
    "backup.files": "drkit.sources.files.cmd:backup_files_cmd",
    "restore.files": "drkit.sources.files.cmd:restore_files_cmd",
    "backup.postgres": "drkit.sources.postgres.cmd:backup_postgres",
    "restore.postgres": "drkit.sources.postgres.cmd:restore_postgres",
    "pg": "drkit.sources.postgres.cmd_pg:pg",
    "backup.redis": "drkit.sources.redis.cmd:backup_redis",
    "restore.redis": "drkit.sources.redis.cmd:restore_redis",
    "redis": "drkit.sources.redis.cmd:redis_group",
}


@cache
def commands() -> dict[str, EntryPoint]:
    """The commands source kinds register, by name (``backup.KIND``, ``restore.KIND``, or a top-level
    command's name), each loaded only when it runs: a kind whose commands are here is not loaded to list
    or find them (``HasCommands`` is the other way: the kind object hands them)."""
    found = {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}
    for name, value in BUILT_IN_COMMANDS.items():
        found.setdefault(name, EntryPoint(name, value, COMMANDS_GROUP))
    return found
