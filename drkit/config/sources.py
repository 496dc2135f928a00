"""``source:`` of a job: validated by the model of the kind it names (``config_model`` of the kind in the
``drkit.sources`` registry, built-in or a plugin's), loaded when a job names it. drkit.config names no
kind: a new kind brings its model in its own package.

A problem is reported under the kind's name, as a tagged union would (``jobs.db.source.postgres.dsn``),
for every kind alike; the JSON schema of ``source`` is every registered kind's model."""

from __future__ import annotations

from typing import Annotated, Any, get_args

from pydantic import BeforeValidator, GetJsonSchemaHandler, SerializeAsAny, ValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

from ..core.errors import UsageError
from ..sources.registry import SourceConfig

_KNOWN_TYPES = frozenset(get_args(core_schema.ErrorType))  # pydantic-core's own error types


def _under(kind: str, exc: ValidationError) -> ValidationError:
    """``exc`` with every problem's location under ``kind``."""
    details: list[InitErrorDetails] = []
    for err in exc.errors(include_url=False):
        known = err["type"] in _KNOWN_TYPES  # a model's own (PydanticCustomError) type is no known one
        kind_of = err["type"] if known else PydanticCustomError(err["type"], err["msg"])
        detail = InitErrorDetails(type=kind_of, loc=(kind, *err["loc"]), input=err["input"])
        if known and "ctx" in err:
            detail["ctx"] = err["ctx"]
        details.append(detail)
    return ValidationError.from_exception_data(exc.title, details)


def _registered_source(value: object) -> object:
    """A ``source:`` mapping validated by its kind's own model (an already validated model passes)."""
    if not isinstance(value, dict):
        return value
    if "kind" not in value:
        from ..sources.registry import kind_names

        raise ValueError(f"a source needs a kind (one of: {', '.join(kind_names())})")
    kind = value["kind"]
    if not isinstance(kind, str):
        return value  # the base model reports the wrong type
    from ..sources.registry import source_kind  # loads only the named kind

    try:
        model = source_kind(kind).config_model
    except UsageError as exc:
        raise ValueError(exc.message) from None
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise _under(kind, exc) from None


class _EveryKind:
    """The JSON schema of ``source``: one of the registered kinds' models (each kind loaded to ask)."""

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        from ..sources.registry import kind_names, source_kind

        models: list[Any] = [source_kind(kind).config_model for kind in kind_names()]
        return {"oneOf": [handler(model.__pydantic_core_schema__) for model in models]}


Source = Annotated[SerializeAsAny[SourceConfig], BeforeValidator(_registered_source), _EveryKind()]
