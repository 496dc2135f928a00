"""Types every part of ``drkit.yaml`` uses: durations, spans, cron expressions, names, and the
strict frozen base model."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
)

from .cron import validate_cron
from .durations import parse_calendar_duration, parse_duration

Seconds = Annotated[float, BeforeValidator(parse_duration)]  # drkit's one duration grammar (core.durations)
# A span back from the newest snapshot (calendar months / years allowed), kept in its canonical spelling.
Span = Annotated[str, BeforeValidator(lambda value: str(parse_calendar_duration(value)))]
Cron = Annotated[str, AfterValidator(validate_cron)]
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


def _no_inline_password(value: str) -> str:
    if urlsplit(value).password:
        raise ValueError("put the password in `password:` as a secret reference, not in the URL")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# for a source kind's ``source:`` model in its package (``drkit/sources/KIND/config.py``)
ConfigModel = _Model
no_inline_password = _no_inline_password
