"""Optional dependencies: which pip extra installs which import.

``pip install drkit`` installs the core (files to a local directory); S3, GCS, each database source,
container sandboxes and the rest each come with an extra. A command that reaches a missing one ends with a
single line naming the extra to install (exit 2), never a traceback.

Which extra installs an import is read from drkit's own package metadata (pyproject.toml's
``[project.optional-dependencies]``), so a source kind's driver needs no line here: a distribution's
import name is its name (``-`` as ``_``), its first word (``google-cloud-storage``: ``google``) or its
name and a requested extra (``psycopg[binary]``: ``psycopg_binary``). ``EXTRAS`` adds the imports that
arrive with another distribution."""

from __future__ import annotations

import re
from functools import cache

from .errors import UsageError

# top-level import name → the extra that installs it, for imports no requirement of that extra names
EXTRAS: dict[str, str] = {
    "botocore": "s3",  # with boto3
    "docker": "docker",  # the Docker SDK, with testcontainers
}

# `NAME[EXTRAS] VERSION; ... extra == "EXTRA"` (a line of Requires-Dist)
_REQUIREMENT = re.compile(
    r"""\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?[^;]*;.*\bextra\s*==\s*["']([^"']+)["']"""
)


def _import_names(dist: str, requested: str | None) -> list[str]:
    name = re.sub(r"[-.]+", "_", dist.lower())
    return [name, name.split("_")[0], *(f"{name}_{e.strip()}" for e in (requested or "").split(",") if e.strip())]


@cache
def declared_extras() -> dict[str, str]:
    """Top-level import name → extra, from drkit's metadata; an extra that pulls drkit's own extras
    (``all``, ``test``) is left out: it is never the one to name."""
    from importlib import metadata  # here: importlib.metadata (email, zipfile) costs every command ~15-20 ms

    try:
        lines = metadata.requires("drkit") or []
    except metadata.PackageNotFoundError:  # run from a tree that was never installed
        return dict(EXTRAS)
    parsed = [m.groups() for m in map(_REQUIREMENT.match, lines) if m is not None]
    aggregates = {extra for dist, _, extra in parsed if dist.lower() == "drkit"}
    found = dict(EXTRAS)
    for dist, requested, extra in parsed:
        if extra not in aggregates:
            for name in _import_names(dist, requested):
                found.setdefault(name, extra)
    return found


class MissingExtra(UsageError):
    """A feature's Python package is not installed."""

    def __init__(self, message: str, *, extra: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.extra = extra


def missing_extra(exc: ImportError) -> MissingExtra | None:
    """The MissingExtra for a failed import of an optional package; ``None`` for anything else (a bug)."""
    top = (exc.name or "").split(".")[0]
    extra = declared_extras().get(top)
    if extra is None:
        return None
    return MissingExtra(
        f"this needs the Python package {top!r}, which is not installed (extra drkit[{extra}])",
        extra=extra,
        hint=f"pip install 'drkit[{extra}]'  (or 'drkit[all]' for every feature)",
    )
