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
from ..core.log import register_secret


@dataclass(frozen=True)
class PassphraseSource:
    file: Path | None = None
    command: str | None = None
    env: str | None = None  # read this variable instead of DRKIT_PASSWORD (a config secret reference)

    def __repr__(self) -> str:
        return f"PassphraseSource(file={self.file!s}, command={'<set>' if self.command else None}, env={self.env})"

    def read(self, *, confirm: bool = False) -> str:
        value = self._read(confirm)
        register_secret(value)  # never logged from here on
        return value

    def _read(self, confirm: bool) -> str:
        if self.file is not None:
            return read_secret_file(self.file)
        if self.command:
            return read_secret_command(self.command)
        if self.env:
            value = os.environ.get(self.env)
            if not value:
                raise WrongPassword(f"environment variable {self.env} (the repository passphrase) is not set")
            return value
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


def read_secret_file(path: Path) -> str:
    """A secret from a file, without its trailing newline."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read secret file {path}: {exc.strerror}") from None
    value = text.rstrip("\r\n")
    if not value:
        raise UsageError(f"secret file {path} is empty")
    return value


def split_command(command: str, option: str) -> list[str]:
    """``command`` split as a POSIX shell would (no shell runs it); an unbalanced quote or an empty
    command is a usage error. The message never repeats the command: it may hold a secret."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise UsageError(f"{option} cannot be split into arguments: {exc}") from None
    if not argv:
        raise UsageError(f"{option} is empty")
    return argv


def read_secret_command(command: str) -> str:
    """A secret printed by a command (run without a shell)."""
    argv = split_command(command, "--password-command")
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"password command failed to run ({type(exc).__name__})") from None
    if proc.returncode != 0:
        raise UsageError(f"password command exited with status {proc.returncode}")
    value = proc.stdout.rstrip("\r\n")
    if not value:
        raise UsageError("password command printed nothing")
    return value
