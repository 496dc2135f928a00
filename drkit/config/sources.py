"""``source:`` of a job: the built-in kinds' models and the plugin kinds' (validated by the kind's
own model from the ``drkit.sources`` registry)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    SerializeAsAny,
    Tag,
    model_validator,
)

from ..core.errors import UsageError
from ..sources.registry import SourceConfig
from .base import Seconds, _Model, _no_inline_password
from .secrets import SecretRef


class FilesSource(_Model):
    kind: Literal["files"]
    paths: list[str] = Field(min_length=1)
    exclude: list[str] = []
    one_file_system: bool = False


class PgReceive(_Model):
    """Continuous WAL streaming while the daemon runs (`drkit pg receive`)."""

    spool_dir: Path = Field(description="Where pg_receivewal writes (a persistent volume).")
    slot: str = Field(default="drkit", pattern=r"^[a-z0-9_]{1,63}$", description="Physical replication slot.")
    interval: Seconds = Field(default=1.0, gt=0, description="Time between syncs of the spool into the repository.")


class PostgresSource(_Model):
    kind: Literal["postgres"]
    dsn: Annotated[str, AfterValidator(_no_inline_password)] = Field(
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


class RedisArchive(_Model):
    """Continuous AOF archiving while the daemon runs (`drkit redis aof-archive`)."""

    interval: Seconds = Field(
        default=1.0,
        gt=0,
        description="Time between the starts of two archiving rounds; the Redis RPO is about this plus 3 s.",
    )


class RedisSource(_Model):
    kind: Literal["redis"]
    url: Annotated[str, AfterValidator(_no_inline_password)] | None = Field(
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


BUILTIN_KINDS = ("files", "postgres", "redis")


def _plugin_source(value: object) -> object:
    """A ``source:`` of a kind registered by a plugin (``drkit.sources`` entry points) is validated
    by that kind's own model; the built-in kinds by the discriminated union below."""
    if isinstance(value, dict) and "kind" not in value:
        from ..sources.registry import kind_names

        raise ValueError(f"a source needs a kind (one of: {', '.join(kind_names())})")
    if isinstance(value, dict) and isinstance(value.get("kind"), str) and value["kind"] not in BUILTIN_KINDS:
        from ..sources.registry import source_kind  # loads only the named plugin

        try:
            return source_kind(value["kind"]).config_model.model_validate(value)
        except UsageError as exc:
            raise ValueError(exc.message) from None
    return value


def _source_tag(value: object) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return str(kind) if kind in BUILTIN_KINDS else "plugin"


Source = Annotated[
    Annotated[FilesSource, Tag("files")]
    | Annotated[PostgresSource, Tag("postgres")]
    | Annotated[RedisSource, Tag("redis")]
    | Annotated[SerializeAsAny[SourceConfig], Tag("plugin")],
    Discriminator(_source_tag),
    BeforeValidator(_plugin_source),
]
