"""Opening and creating repositories from a URL and a passphrase source."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from storage_backends import Backend, RetryPolicy, open_backend
from storage_backends import Limits as Limits  # re-exported: jobs may not import storage_backends
from storage_backends import display_url as display_url  # re-exported: config may not import storage_backends

from ..core.errors import UsageError
from ..repository.format import RepoConfig
from ..repository.references import ROOT_WALKERS
from ..repository.repo import Repository
from ..repository.reserve import DEFAULT_RESERVE
from ..repository.storage_errors import storage_errors
from .secrets import PassphraseSource


def _files_tree_blobs(repo: Repository, root: dict[str, Any]) -> Iterator[bytes]:
    """The files source's tree walker (check, prune, copy, stats read file trees' blobs through it), its
    package imported only when a tree root is walked: a stream backup does not pay for it (~10 ms of
    start-up). Importing the package registers its own walker in place of this one."""
    from ..sources import files

    walker = ROOT_WALKERS[files.ROOT_TYPE]
    if walker is _files_tree_blobs:  # the package did not register itself: never recurse
        raise RuntimeError("the files source registered no tree walker")
    yield from walker(repo, root)


ROOT_WALKERS.setdefault("tree", _files_tree_blobs)  # the files source's ROOT_TYPE


def default_repository_url() -> str:
    """``DRKIT_REPOSITORY``, else a local repository under the user's data directory."""
    env = os.environ.get("DRKIT_REPOSITORY")
    if env:
        return env
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(data_home) / "drkit" / "repository")


def open_repository(
    url: str,
    secret: PassphraseSource | str,
    *,
    load_index: bool = True,
    retry_for: float | None = None,
    limits: Limits | None = None,
) -> Repository:
    """Open ``url`` with the passphrase from ``secret`` (or the passphrase itself, already read);
    ``retry_for``, ``limits``: the repository's configured retry window and bandwidth limits (``--retry-for``,
    ``--limit-upload`` and ``--limit-download`` win over them)."""
    with storage_errors():
        backend = open_backend(url, retry=RetryPolicy.from_env(retry_for), limits=limits)
    try:
        return Repository.open(backend, secret if isinstance(secret, str) else secret.read(), load_index=load_index)
    except BaseException:
        backend.close()
        raise


def reserve_size(backend: Backend, mib: int | None) -> tuple[int, bool]:
    """The space reserve for a new repository (repository/reserve.py) in bytes, and whether it was asked
    for: ``mib`` if given, else ``DRKIT_RESERVE_MIB``, else (best effort: left out on a disk too small)
    32 MiB on storage that can fill up (a local directory), none on object stores."""
    if mib is None and (env := os.environ.get("DRKIT_RESERVE_MIB", "").strip()):
        if not env.isdigit():
            raise UsageError(f"DRKIT_RESERVE_MIB={env[:20]!r} is not a whole number of MiB")
        mib = int(env)
    if mib is None:
        return (DEFAULT_RESERVE if backend.capabilities.bounded_space else 0), False
    return mib << 20, True


def create_repository(
    url: str, secret: PassphraseSource, config: RepoConfig, reserve_mib: int | None = None
) -> Repository:
    with storage_errors():
        backend = open_backend(url)
    size, required = reserve_size(backend, reserve_mib)
    return Repository.init(backend, secret.read(confirm=True), config, reserve=size, reserve_required=required)


def open_or_create_default(url: str, secret: PassphraseSource) -> tuple[Repository, bool]:
    """Open the embedded default repository, creating it on first use. Only for the default
    local location: an explicit URL that holds no repository is an error, never created silently."""
    with storage_errors():
        backend = open_backend(url)
        exists = any(True for _ in backend.list("config"))
    if not exists:
        size, _ = reserve_size(backend, None)
        return Repository.init(backend, secret.read(), RepoConfig(), reserve=size, reserve_required=False), True
    return Repository.open(backend, secret.read()), False
