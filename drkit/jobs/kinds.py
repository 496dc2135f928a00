"""Where the built-in source kinds were registered before each moved into its package
(``drkit/sources/<kind>/plugin.py``): a stale editable install's entry points still name
``drkit.jobs.kinds:FILES`` (``pip install -e .`` refreshes them), so the names stay."""

from __future__ import annotations

from ..sources.files.plugin import FILES
from ..sources.postgres.plugin import POSTGRES
from ..sources.redis.plugin import REDIS

__all__ = ["FILES", "POSTGRES", "REDIS"]
