"""Options shared by the commands that open a repository."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..core.errors import UsageError
from ..core.log import setup_logging
from ..ops.secrets import PassphraseSource

if TYPE_CHECKING:
    from ..config import DrkitConfig


@dataclass(frozen=True)
class RepoRef:
    url: str
    secret: PassphraseSource
    is_default: bool = False  # no --repo and no DRKIT_REPOSITORY: the embedded local repository


_OPTIONS = (
    click.option(
        "--password-command",
        default=None,
        envvar="DRKIT_PASSWORD_COMMAND",
        help="Run this command and read the passphrase from its output.",
    ),
    click.option(
        "--password-file",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        envvar="DRKIT_PASSWORD_FILE",
        help="Read the passphrase from this file.",
    ),
    click.option(
        "--repo",
        "repo_url",
        envvar="DRKIT_REPOSITORY",
        default=None,
        metavar="URL",
        help="Repository URL or path (env DRKIT_REPOSITORY; default: a local repository "
        "under the user's data directory).",
    ),
)


def with_repo(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: --repo, --password-file, --password-command, folded into ``repo_ref``."""

    @functools.wraps(fn)
    def wrapper(
        *args: Any,
        repo_url: str | None = None,
        password_file: Path | None = None,
        password_command: str | None = None,
        **kwargs: Any,
    ) -> Any:
        secret = PassphraseSource(password_file, password_command)
        url = repo_url
        if not url:  # imported here: a command given --repo loads the session's modules when it opens
            from ..ops.session import default_repository_url

            url = default_repository_url()
        ref = RepoRef(url, secret, is_default=repo_url is None)
        return fn(*args, repo_ref=ref, **kwargs)

    wrapped: Callable[..., Any] = wrapper
    for option in _OPTIONS:
        wrapped = option(wrapped)
    return wrapped


SKIP_DAMAGED_HELP = (
    "Let 'latest' (or --point-in-time) fall back to the newest intact snapshot when a snapshot "
    "stored after it is damaged (default: refuse, exit 13: the damaged one may be the newest)."
)


def skip_damaged_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--skip-damaged``: the restore commands' explicit consent to fall back past a damaged snapshot."""
    return click.option("--skip-damaged", is_flag=True, help=SKIP_DAMAGED_HELP)(fn)


def load_cli_config(ctx: click.Context) -> DrkitConfig:
    """The config named by --config / DRKIT_CONFIG (required for job-based commands)."""
    from ..config import load_config  # pydantic: loaded by the commands that read a config only

    path = (ctx.find_root().obj or {}).get("config_file")
    if not path:
        raise UsageError(
            "this command needs a config file: pass --config FILE or set DRKIT_CONFIG",
            hint="`drkit init-config drkit.yaml` writes a commented example",
        )
    cfg = load_config(path)
    if not (ctx.find_root().obj or {}).get("log_level"):
        setup_logging(cfg.log_level)  # no --log-level or --debug: the config's log_level
    return cfg
