"""Where a repository passphrase comes from: ``--password-file``, ``--password-command``,
``DRKIT_PASSWORD``, or a prompt on a TTY — in that order. Never from a plain CLI argument."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UsageError, WrongPassword


@dataclass(frozen=True)
class PassphraseSource:
    file: Path | None = None
    command: str | None = None

    def __repr__(self) -> str:
        return f"PassphraseSource(file={self.file!s}, command={'<set>' if self.command else None})"

    def read(self, *, confirm: bool = False) -> str:
        if self.file is not None:
            return _from_file(self.file)
        if self.command:
            return _from_command(self.command)
        env = os.environ.get("DRKIT_PASSWORD")
        if env:
            return env
        if sys.stdin.isatty():
            import click

            return str(click.prompt("repository passphrase", hide_input=True, confirmation_prompt=confirm))
        raise WrongPassword(
            "no passphrase given",
            hint="set DRKIT_PASSWORD, or pass --password-file or --password-command",
        )


def _from_file(path: Path) -> str:
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read password file {path}: {exc.strerror}") from None
    value = text.rstrip("\r\n")
    if not value:
        raise UsageError(f"password file {path} is empty")
    return value


def _from_command(command: str) -> str:
    try:
        proc = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"password command failed to run ({type(exc).__name__})") from None
    if proc.returncode != 0:
        raise UsageError(f"password command exited with status {proc.returncode}")
    value = proc.stdout.rstrip("\r\n")
    if not value:
        raise UsageError("password command printed nothing")
    return value
