"""``drkit.yaml``: validated configuration for jobs, repositories, schedules and targets."""

from .durations import format_duration, parse_duration
from .load import CONFIG_ENV, ConfigError, config_path, load_config
from .models import (
    Check,
    DrkitConfig,
    JobConfig,
    PathCheck,
    RedisCheck,
    RepositoryConfig,
    SqlCheck,
    SystemConfig,
    Targets,
)
from .redact import redacted
from .secrets import SecretRef

__all__ = [
    "CONFIG_ENV",
    "Check",
    "ConfigError",
    "DrkitConfig",
    "JobConfig",
    "PathCheck",
    "RedisCheck",
    "RepositoryConfig",
    "SecretRef",
    "SqlCheck",
    "SystemConfig",
    "Targets",
    "config_path",
    "format_duration",
    "load_config",
    "parse_duration",
    "redacted",
]
