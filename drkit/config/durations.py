"""Human durations in config files: ``90s``, ``15min``, ``1h30min``, ``2d`` (or a bare number of seconds).
The parser lives in ``drkit.core.durations`` so that commands can use it without loading the config
models (pydantic)."""

from __future__ import annotations

from ..core.durations import format_duration, parse_calendar_duration, parse_duration

__all__ = ["format_duration", "parse_calendar_duration", "parse_duration"]
