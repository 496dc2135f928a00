"""Options shared by the commands that open a repository."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ..ops.secrets import PassphraseSource
from ..ops.session import default_repository_url


@dataclass(frozen=True)
class RepoRef:
    url: str
    secret: PassphraseSource
    is_default: bool = False  # no --repo and no DRKIT_REPOSITORY: the embedded local repository


_OPTIONS = (
    click.option("--password-command", default=None, envvar="DRKIT_PASSWORD_COMMAND",
                 help="Run this command and read the passphrase from its output."),
    click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
                 envvar="DRKIT_PASSWORD_FILE", help="Read the passphrase from this file."),
    click.option("--repo", "repo_url", envvar="DRKIT_REPOSITORY", default=None, metavar="URL",
                 help="Repository URL or path (env DRKIT_REPOSITORY; default: a local repository "
                      "under the user's data directory)."),
)


def with_repo(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: --repo, --password-file, --password-command, folded into ``repo_ref``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, repo_url: str | None = None, password_file: Path | None = None,
                password_command: str | None = None, **kwargs: Any) -> Any:
        secret = PassphraseSource(password_file, password_command)
        ref = RepoRef(repo_url or default_repository_url(), secret, is_default=repo_url is None)
        return fn(*args, repo_ref=ref, **kwargs)

    wrapped: Callable[..., Any] = wrapper
    for option in _OPTIONS:
        wrapped = option(wrapped)
    return wrapped
