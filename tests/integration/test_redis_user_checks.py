"""A drill's Redis user check against a real server: a nil reply (GET of a missing key) is matched
only by ``expect: null``, never by a string — ``expect: ""`` passed for a key the restore lost."""

from __future__ import annotations

import pytest
from servers.redis import RedisServer

from drkit.config.models import RedisCheck
from drkit.drills.verify.user import verify_user_checks
from drkit.sources.redis.drills.verify import redis_check

pytestmark = pytest.mark.integration


def test_nil_is_matched_only_by_null(redis_server: RedisServer) -> None:
    with redis_server.client() as c:
        c.set("empty", "")
        checks = [
            RedisCheck(redis="GET missing", expect=""),  # was: passed
            RedisCheck(redis="GET missing", expect=None),
            RedisCheck(redis="GET empty", expect=""),
            RedisCheck(redis="GET empty", expect=None),
        ]
        results = verify_user_checks(list(checks), redis=redis_check(c))
    assert [r.ok for r in results] == [False, True, True, False], [r.detail for r in results]
    assert results[0].detail == "got nil, expected ''"
