"""A job's ``source:`` for ``kind: postgres`` (the registry's ``config_model`` of the kind): a slice of the
config layer inside the package, validated when ``drkit.yaml`` names the kind."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from ...config.base import ConfigModel, Seconds, no_inline_password
from ...config.secrets import SecretRef
from ..registry import SourceConfig


class PgReceive(ConfigModel):
    """Continuous WAL streaming while the daemon runs (`drkit pg receive`)."""

    spool_dir: Path = Field(description="Where pg_receivewal writes (a persistent volume).")
    slot: str = Field(default="drkit", pattern=r"^[a-z0-9_]{1,63}$", description="Physical replication slot.")
    interval: Seconds = Field(default=1.0, gt=0, description="Time between syncs of the spool into the repository.")


class PostgresSource(SourceConfig):
    kind: Literal["postgres"]
    dsn: Annotated[str, AfterValidator(no_inline_password)] = Field(
        pattern=r"^postgres(ql)?://", description="libpq URL without a password."
    )
    password: SecretRef | None = None
    mode: Literal["physical", "logical"] = "logical"
    name: str | None = None
    receive: PgReceive | None = Field(default=None, description="Stream WAL into the archive (physical mode).")

    @model_validator(mode="after")
    def _receive_physical(self) -> PostgresSource:
        if self.receive is not None and self.mode != "physical":
            raise ValueError("receive (WAL streaming) needs mode: physical")
        return self
