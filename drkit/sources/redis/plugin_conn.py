"""A Redis job's target, from its ``source:``: the URL or Sentinels, and the password read from its secret
reference only here, at the moment it is used. A slice of the jobs layer (it reads the job's config)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from .config import RedisSource

if TYPE_CHECKING:
    from .conn import RedisTarget


def redis_target(source: RedisSource) -> RedisTarget:
    from .conn import make_target  # the [redis] extra, imported when used

    target = make_target(source.url, sentinels=tuple(source.sentinels), master_name=source.master_name)
    if source.password is not None:  # keeps the Sentinels (a new RedisTarget dropped them)
        target = dataclasses.replace(target, password=source.password.reveal())
    return target
