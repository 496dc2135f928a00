"""The names of the registered source kinds (entry-point group ``drkit.sources``), read from package
metadata without loading any kind: the CLI asks for them on every ``drkit backup|restore`` and must
not pay for pydantic or a database driver (``registry`` loads a kind when it is used)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points

GROUP = "drkit.sources"


# The built-in kinds, as pyproject.toml registers them: also used when the installed metadata lacks
# them (an editable install made before the group existed), so a stale install still backs up.
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
