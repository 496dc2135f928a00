"""`drkit backup stdin`: one stream (standard input or a command's output) → one snapshot."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import BinaryIO, cast

from ..core.errors import DrkitError, UsageError
from ..repository.repo import Repository
from ..repository.snapshots import Snapshot
from ..repository.streams import SourceRef, backup_stream
from .secrets import split_command


class CommandFailed(DrkitError):
    exit_code = 1


def backup_stdin(
    repo: Repository,
    name: str,
    *,
    tags: list[str],
    command: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Snapshot:
    """Back up ``stream`` (default: standard input), or the output of ``command``; a command that
    exits non-zero yields no snapshot."""
    argv = None if command is None else split_command(command, "--stdin-from-command")  # before the lock
    with repo.lock(purpose="backup"):
        if argv is None:
            return backup_stream(repo, SourceRef("stdin", name, tags), sys.stdin.buffer, progress=progress)
        return _backup_command(repo, name, argv, tags, progress)


def _backup_command(
    repo: Repository, name: str, argv: list[str], tags: list[str], progress: Callable[[int], None] | None
) -> Snapshot:
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    except OSError as exc:
        raise UsageError(f"cannot run {argv[0]!r}: {exc.strerror}") from None
    assert proc.stdout is not None

    def require_success() -> None:
        proc.stdout.close()  # type: ignore[union-attr]
        code = proc.wait()
        if code != 0:
            raise CommandFailed(f"command {argv[0]!r} exited with status {code}: no snapshot written")

    try:
        source = SourceRef("stdin", name, tags, {"command": argv[0]})
        stdout = cast(BinaryIO, proc.stdout)
        return backup_stream(repo, source, stdout, before_commit=require_success, progress=progress)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
