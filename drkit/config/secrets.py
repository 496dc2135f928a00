"""Secrets in config are references, never values: an environment variable, a file (a mounted
Kubernetes Secret) or a command. The value is read only when it is used."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

from ..core.errors import UsageError
from ..core.log import register_secret
from ..ops.secrets import PassphraseSource, read_secret_command, read_secret_file


class SecretRef(BaseModel):
    """Exactly one of ``env``, ``file``, ``command``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: Path | None = None
    command: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        given = [name for name in ("env", "file", "command") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("a secret reference needs exactly one of env, file, command")
        return self

    def describe(self) -> str:
        """Where the secret comes from, for `config show` (never its value)."""
        if self.env:
            return f"<from env {self.env}>"
        if self.file:
            return f"<from file {self.file}>"
        return "<from command>"

    def reveal(self) -> str:
        if self.file is not None:
            value = read_secret_file(self.file)
        elif self.command:
            value = read_secret_command(self.command)
        else:
            value = os.environ.get(self.env or "") or ""
            if not value:
                raise UsageError(f"environment variable {self.env} (a secret reference) is not set")
        register_secret(value)  # never logged from here on
        return value

    def as_passphrase_source(self) -> PassphraseSource:
        return PassphraseSource(file=self.file, command=self.command, env=self.env)
