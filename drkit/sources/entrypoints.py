"""The names of the registered source kinds (entry-point group ``drkit.sources``), read from package
metadata without loading any kind: the CLI asks for them on every ``drkit backup|restore`` and must
not pay for pydantic or a database driver (``registry`` loads a kind when it is used)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points

GROUP = "drkit.sources"


@cache
def registered() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def kind_names() -> list[str]:
    """Every registered kind, sorted."""
    return sorted(registered())
