"""A job's ``source:`` for ``kind: redis`` (the registry's ``config_model`` of the kind): a slice of the
config layer inside the package, validated when ``drkit.yaml`` names the kind."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from ...config.base import ConfigModel, Seconds, no_inline_password
from ...config.secrets import SecretRef
from ..registry import SourceConfig


class RedisArchive(ConfigModel):
    """Continuous AOF archiving while the daemon runs (`drkit redis aof-archive`)."""

    interval: Seconds = Field(
        default=1.0,
        gt=0,
        description="Time between the starts of two archiving rounds; the Redis RPO is about this plus 3 s.",
    )


class RedisSource(SourceConfig):
    kind: Literal["redis"]
    url: Annotated[str, AfterValidator(no_inline_password)] | None = Field(
        default=None, pattern=r"^rediss?://", description="The server; optional with sentinels."
    )
    sentinels: list[str] = Field(default=[], description="host:port of Sentinels that name the primary.")
    master_name: str | None = Field(default=None, description="The Sentinel master name (with sentinels).")
    password: SecretRef | None = None
    aof_dir: Path | None = None
    name: str = "redis"
    archive: RedisArchive | None = Field(default=None, description="Archive the AOF's growth (needs aof_dir).")

    @model_validator(mode="after")
    def _where(self) -> RedisSource:
        if self.sentinels and not self.master_name:
            raise ValueError("sentinels need master_name")
        if self.url is None and not self.sentinels:
            raise ValueError("give url, or sentinels with master_name")
        if self.archive is not None and self.aof_dir is None:
            raise ValueError("archive (AOF archiving) needs aof_dir")
        return self
