"""Load ``drkit.yaml`` (``--config`` or ``DRKIT_CONFIG``) with ``DRKIT_…`` environment overrides
(nested keys joined by ``__``, e.g. ``DRKIT_SCHEDULER__MAX_CONCURRENT=4``), validate it, and
report every invalid field with its path in one error."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

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


# Hand-written instead of pydantic-settings (issue #22: that package and python-dotenv were 2 of the core
# install's distributions, used only for these few lines): DRKIT_<FIELD>[__<KEY>...] (names case-insensitive,
# as pydantic-settings read them) is merged over the file; a value that is a JSON object or list is decoded,
# any other stays a string that the model validates. Variables naming no field (DRKIT_PASSWORD,
# DRKIT_CONFIG, ...) are not config.
_ENV_PREFIX = "DRKIT_"


def _env_value(raw: str) -> Any:
    if raw.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(raw)
        except ValueError:
            pass
    return raw


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    fields = set(DrkitConfig.model_fields)
    tree: dict[str, Any] = {}
    for name in sorted(environ):
        if not name.upper().startswith(_ENV_PREFIX):
            continue
        path = name[len(_ENV_PREFIX) :].lower().split("__")
        if path[0] not in fields or not all(path):
            continue
        node = tree
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = _env_value(environ[name])
    return tree


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` deep-merged onto ``base``: the environment wins over the file, key by key."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


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
    try:
        return DrkitConfig.model_validate(_merged(data, _env_overrides(os.environ)))
    except ValidationError as exc:
        raise ConfigError(str(where or "(environment)"), _problems(exc)) from None
