"""Borg 1.4 as a second peer of the stdin and files benches: where its executable is, its settings next
to drkit's, and the environment that keeps its config, keys and cache in the bench's temp dir.

Borg comes from PyPI into its own venv, outside the project's (it has no wheels: pip builds it, which
needs a C compiler and the headers of libacl, liblz4, libzstd, libxxhash and OpenSSL)::

    apt-get install gcc pkg-config python3-dev libacl1-dev liblz4-dev libzstd-dev libxxhash-dev libssl-dev
    /usr/bin/python3 -m venv ~/.cache/drkit-bench/borg-1.4
    ~/.cache/drkit-bench/borg-1.4/bin/pip install 'borgbackup==1.4.*'

Settings (the nearest to drkit's defaults; everything else is Borg's default, as its users run it):
``--encryption repokey-blake2`` (AES-256-CTR with a BLAKE2b MAC, BLAKE2b chunk ids; drkit: AES-256-GCM,
keyed BLAKE3 ids) and ``--compression zstd,3`` (drkit: zstd level 3, skipped where it does not pay).
Borg's buzhash chunker targets 2 MiB chunks (drkit's FastCDC averages 1 MiB). Borg is single-threaded,
so it gains nothing from a second CPU.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

ENCRYPTION = "repokey-blake2"
COMPRESSION = "zstd,3"
SETTINGS = (
    f"Borg: --encryption {ENCRYPTION}, --compression {COMPRESSION}, default chunker (2 MiB target); single-threaded"
)


def default_venv() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "drkit-bench" / "borg-1.4"


def find_borg(spec: str) -> str | None:
    """The borg executable: ``spec`` if a path is given, ``None`` for ``none``; by default the bench's
    venv (``default_venv``), else ``borg`` on PATH, else None (the bench then runs without Borg)."""
    if spec == "none":
        return None
    if spec:
        return spec
    venv_borg = default_venv() / "bin" / "borg"
    if venv_borg.exists():
        return str(venv_borg)
    return shutil.which("borg")


def missing_note() -> str:
    return (
        f"Borg not found (neither {default_venv() / 'bin' / 'borg'} nor borg on PATH): running without it; "
        "install it as bench/_borg.py says, or pass --borg PATH"
    )


def env(base: Path, password: str) -> dict[str, str]:
    """Borg's environment: the passphrase, and its config, keys, cache and security dirs under ``base``
    (fresh per round, as the other tools' caches)."""
    return {
        "BORG_PASSPHRASE": password,
        "BORG_BASE_DIR": str(base),
        "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
        "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "no",
    }


def init_argv(exe: str, repo: Path) -> list[str]:
    return [exe, "init", "--encryption", ENCRYPTION, str(repo)]


class Archives:
    """Archive names per repository: Borg has no ``latest``, so each backup gets the next name (b1, b2,
    ...) and a restore reads the last one, with no listing call inside the timed step."""

    def __init__(self) -> None:
        self._count: dict[Path, int] = {}

    def next(self, repo: Path) -> str:
        self._count[repo] = self._count.get(repo, 0) + 1
        return f"{repo}::b{self._count[repo]}"

    def last(self, repo: Path) -> str:
        return f"{repo}::b{self._count.get(repo, 0)}"


def stdin_argvs(exe: str) -> tuple[Callable[[str, Path], list[str]], Callable[[str, Path], list[str]]]:
    """(backup, restore) argv builders for a stream: ``borg create ... -`` and ``borg extract --stdout``."""
    names = Archives()

    def backup(x: str, repo: Path) -> list[str]:
        return [x, "create", "--compression", COMPRESSION, "--stdin-name", "stream.bin", names.next(repo), "-"]

    def restore(x: str, repo: Path) -> list[str]:
        return [x, "extract", "--stdout", names.last(repo)]

    return backup, restore
