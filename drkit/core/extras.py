"""Optional dependencies: which pip extra installs which import.

``pip install drkit`` installs the core (files to a local directory); S3, GCS, PostgreSQL, Redis and
container sandboxes each come with an extra. A command that reaches a missing one ends with a single
line naming the extra to install (exit 2), never a traceback."""

from __future__ import annotations

from .errors import UsageError

# top-level import name → the extra that installs it (pyproject.toml [project.optional-dependencies])
EXTRAS: dict[str, str] = {
    "boto3": "s3",
    "botocore": "s3",
    "google": "gcs",
    "psycopg": "postgres",
    "psycopg_binary": "postgres",
    "redis": "redis",
    "testcontainers": "docker",
    "docker": "docker",
    "mfusepy": "mount",
    "opentelemetry": "otel",
    "rich": "rich",
}


class MissingExtra(UsageError):
    """A feature's Python package is not installed."""

    def __init__(self, message: str, *, extra: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.extra = extra


def missing_extra(exc: ImportError) -> MissingExtra | None:
    """The MissingExtra for a failed import of an optional package; ``None`` for anything else (a bug)."""
    top = (exc.name or "").split(".")[0]
    extra = EXTRAS.get(top)
    if extra is None:
        return None
    return MissingExtra(
        f"this needs the Python package {top!r}, which is not installed (extra drkit[{extra}])",
        extra=extra,
        hint=f"pip install 'drkit[{extra}]'  (or 'drkit[all]' for every feature)",
    )
