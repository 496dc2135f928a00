"""`drkit init`: create a repository."""

from __future__ import annotations

import click

from ..ops.session import create_repository
from ..repository.format import RepoConfig
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .output import emit_json


@click.command("init", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.option("--compression-level", type=click.IntRange(0, 19), default=3, show_default=True,
              help="zstd level for new data (0: store uncompressed).")
@click.option("--pack-size-mib", type=click.IntRange(1, 256), default=16, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def init(repo_ref: RepoRef, compression_level: int, pack_size_mib: int, as_json: bool) -> None:
    """Create a new encrypted repository at --repo."""
    config = RepoConfig(compression_level=compression_level, pack_size=pack_size_mib << 20)
    repo = create_repository(repo_ref.url, repo_ref.secret, config)
    if as_json:
        emit_json({"id": repo.config.id, "url": repo.backend.display})
    else:
        click.echo(f"created drkit repository {repo.config.id[:8]} at {repo.backend.display}")
