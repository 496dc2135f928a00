"""`drkit init`: create a repository."""

from __future__ import annotations

from typing import Any

import click

from ..ops.session import create_repository
from ..repository.format import LOCK_MODES, RepoConfig, chunker_params
from .common import RepoRef, with_repo
from .epilog import EXIT_CODES_EPILOG
from .output import emit_json


@click.command("init", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.option(
    "--compression-level",
    type=click.IntRange(0, 19),
    default=3,
    show_default=True,
    help="zstd level for new data (0: store uncompressed).",
)
@click.option("--pack-size-mib", type=click.IntRange(1, 256), default=16, show_default=True)
@click.option(
    "--chunk-size-kib",
    type=click.IntRange(16, 4096),
    default=1024,
    show_default=True,
    help="Average content-defined chunk size (min 1/4, max 4x). Smaller chunks deduplicate "
    "scattered small changes (RDB files, pg_dump output) better, at more index entries.",
)
@click.option(
    "--immutable-days",
    type=click.IntRange(0, 36500),
    default=0,
    show_default=True,
    help="Write every object with Object Lock retention for this many days (S3 bucket with Object "
    "Lock, or GCS bucket with object retention); forget and prune keep what is still locked.",
)
@click.option(
    "--lock-mode",
    type=click.Choice(LOCK_MODES),
    default="governance",
    show_default=True,
    help="governance: users with bypass permission may still delete; compliance: nobody can.",
)
@click.option(
    "--reserve-mib",
    type=click.IntRange(0, 1 << 20),
    default=None,
    metavar="MIB",
    help="Space reserve: room that forget and prune release to run on a full disk "
    "(docs/repository-safety.md). Default: 32 on a local directory (left out, with a warning, "
    "where it does not fit), 0 on object stores; DRKIT_RESERVE_MIB sets it too.",
)
@click.option("--json", "as_json", is_flag=True)
def init(
    repo_ref: RepoRef,
    compression_level: int,
    pack_size_mib: int,
    chunk_size_kib: int,  # noqa: PLR0913
    reserve_mib: int | None,
    as_json: bool,
    **lock: Any,
) -> None:
    """Create a new encrypted repository at --repo."""
    config = RepoConfig(
        compression_level=compression_level,
        pack_size=pack_size_mib << 20,
        chunker=chunker_params(chunk_size_kib << 10),
        **lock,
    )
    repo = create_repository(repo_ref.url, repo_ref.secret, config, reserve_mib)
    if as_json:
        emit_json(
            {
                "id": repo.config.id,
                "url": repo.backend.display,
                "immutable_days": config.immutable_days,
                "lock_mode": config.lock_mode,
            }
        )
        return
    click.echo(f"created drkit repository {repo.config.id[:8]} at {repo.backend.display}")
    if config.immutable_days:
        click.echo(f"every object is locked for {config.immutable_days} days ({config.lock_mode} mode)")
