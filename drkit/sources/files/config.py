"""A job's ``source:`` for ``kind: files`` (the registry's ``config_model`` of the kind): a slice of the
config layer inside the package, validated when ``drkit.yaml`` names the kind."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from ..registry import SourceConfig


class FilesSource(SourceConfig):
    kind: Literal["files"]
    paths: list[str] = Field(min_length=1)
    exclude: list[str] = []
    one_file_system: bool = False
    name: SkipJsonSchema[None] = Field(default=None, exclude=True)  # its snapshots take the job's name

    @field_validator("name", mode="before")
    @classmethod
    def _no_name(cls, value: object) -> None:
        if value is not None:
            raise ValueError("not a field of a files source (its snapshots take the job's name)")
        return None
