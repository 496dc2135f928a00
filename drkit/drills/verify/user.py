"""The operator's own checks from the job's config or a runbook: SQL with an expected result, Redis
commands with expected replies, paths that must exist.

The kind that restored the data runs the checks only it can: its drill hands a runner for them
(PostgreSQL's drill ``sql``: ``drkit.sources.postgres.drills.verify.sql_check``, the values in PostgreSQL's
own text form; Redis' ``redis``: ``drkit.sources.redis.drills.verify.redis_check``); a check no runner was
given for fails as misconfigured. Path checks are run here, in the restored tree."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ...config import Check, PathCheck, RedisCheck, SqlCheck
from ..result import CheckResult
from .timing import timed_check

Outcome = tuple[bool, str]  # (passed, detail)


def _path(root: Path, check: PathCheck) -> tuple[bool, str]:
    """The entry exists in the restored tree: neither ``..`` nor a restored symlink (to /etc, say) may
    make a file outside it count."""
    path = root / check.path_exists.lstrip("/")
    real, top = os.path.realpath(path), os.path.realpath(root)
    inside = real == top or real.startswith(top + os.sep)
    found = inside and os.path.exists(real)
    note = " (resolves outside the restored tree: not counted)" if not inside and os.path.exists(real) else ""
    return found, f"{check.path_exists} {'exists' if found else 'missing'}{note}"


def verify_user_checks(
    checks: list[Check],
    *,
    sql: Callable[[SqlCheck], Outcome] | None = None,
    redis: Callable[[RedisCheck], Outcome] | None = None,
    root: Path | None = None,
) -> list[CheckResult]:
    """Run each check that applies to the restored kind (``sql``/``redis``: its kind's runner of such a
    check; ``root``: the restored tree); a check for another kind fails (misconfigured)."""
    results = []
    for i, check in enumerate(checks):
        name = f"user.{type(check).__name__.removesuffix('Check').lower()}[{i}]"
        if isinstance(check, SqlCheck) and sql is not None:
            results.append(timed_check(name, lambda c=check: sql(c)))  # type: ignore[misc]
        elif isinstance(check, RedisCheck) and redis is not None:
            results.append(timed_check(name, lambda c=check: redis(c)))  # type: ignore[misc]
        elif isinstance(check, PathCheck) and root is not None:
            results.append(timed_check(name, lambda c=check: _path(root, c)))  # type: ignore[misc]
        else:
            results.append(CheckResult(name, False, "this check does not apply to the restored source"))
    return results
