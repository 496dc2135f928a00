"""The effective config as plain data with every secret reference shown as where it comes from."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .models import RepositoryConfig
from .secrets import SecretRef


def _fields(value: BaseModel) -> dict[str, Any]:
    """Field values under the names drkit.yaml uses (a field's alias, e.g. a repository's ``copy``)."""
    return {info.alias or name: _walk(getattr(value, name)) for name, info in type(value).model_fields.items()}


def _walk(value: Any) -> Any:
    if isinstance(value, SecretRef):
        return value.describe()
    if isinstance(value, RepositoryConfig):  # a storage URL may carry credentials: its display form
        return {**_fields(value), "url": _shown_url(value.url)}
    if isinstance(value, BaseModel):
        return _fields(value)
    if isinstance(value, dict):
        return {k: _walk(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v) for v in value]
    if hasattr(value, "__fspath__"):
        return str(value)
    return value


def _shown_url(url: str) -> str:
    """A URL that could hold credentials (user info, parameters) in its display form; paths as given."""
    if "@" not in url and "?" not in url:
        return url
    from ..ops.session import display_url  # here: loading a config needs no storage code

    return display_url(url)


def redacted(model: BaseModel) -> dict[str, Any]:
    result: dict[str, Any] = _walk(model)
    return result
