"""Load ``drkit.yaml`` (``--config`` or ``DRKIT_CONFIG``) with ``DRKIT_…`` environment overrides
(nested keys joined by ``__``, e.g. ``DRKIT_SCHEDULER__MAX_CONCURRENT=4``), validate it, and
report every invalid field with its path in one error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ..core.errors import UsageError
from .models import DrkitConfig

CONFIG_ENV = "DRKIT_CONFIG"


class ConfigError(UsageError):
    """The config file is missing, unreadable or invalid; ``problems`` lists each one."""

    def __init__(self, source: str, problems: list[str]) -> None:
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        super().__init__(f"invalid config {source} ({count})")
        self.problems = problems
        self.details = problems  # printed one per line under the error


def _settings_class(data: dict[str, Any]) -> type[BaseSettings]:
    class _Settings(BaseSettings, DrkitConfig):
        model_config = SettingsConfigDict(env_prefix="DRKIT_", env_nested_delimiter="__", extra="forbid",
                                          frozen=True)

        @classmethod
        def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                       init_settings: PydanticBaseSettingsSource,
                                       env_settings: PydanticBaseSettingsSource,
                                       dotenv_settings: PydanticBaseSettingsSource,
                                       file_secret_settings: PydanticBaseSettingsSource,
                                       ) -> tuple[PydanticBaseSettingsSource, ...]:
            return env_settings, init_settings  # the environment wins over the file

    return _Settings


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ConfigError(str(path), [f"{where}not valid YAML ({getattr(exc, 'problem', 'syntax error')})"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), ["the top level must be a mapping (repositories:, jobs:, …)"])
    return data


def _problems(exc: ValidationError) -> list[str]:
    """``path: message`` per error; input values are left out (they may be secrets)."""
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        path = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        message = err["msg"].removeprefix("Value error, ")
        out.append(f"{path}: {message}" if path else message)
    return out


def config_path(path: str | Path | None) -> Path | None:
    value = path or os.environ.get(CONFIG_ENV)
    return Path(value) if value else None


def load_config(path: str | Path | None = None) -> DrkitConfig:
    """The validated config from ``path`` (or ``DRKIT_CONFIG``) plus the environment."""
    where = config_path(path)
    data = _read_yaml(where) if where is not None else {}
    settings_cls = _settings_class(data)
    try:
        settings = settings_cls(**data)
    except ValidationError as exc:
        raise ConfigError(str(where or "(environment)"), _problems(exc)) from None
    return DrkitConfig.model_validate(settings.model_dump())
