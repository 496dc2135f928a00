"""The effective config as plain data with every secret reference shown as where it comes from."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .secrets import SecretRef


def _walk(value: Any) -> Any:
    if isinstance(value, SecretRef):
        return value.describe()
    if isinstance(value, BaseModel):
        return {name: _walk(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {k: _walk(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v) for v in value]
    if hasattr(value, "__fspath__"):
        return str(value)
    return value


def redacted(model: BaseModel) -> dict[str, Any]:
    result: dict[str, Any] = _walk(model)
    return result
