"""Redis connection settings: URLs, credentials from env or file, display forms without secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from drkit.core.errors import UsageError
from drkit.sources.redis.conn import display_url, make_target, parse_sentinel, translate
from drkit.sources.redis.errors import RedisAuthFailed, RedisUnreachable

SECRET = "s3cret-redis-pw"


def test_display_url_drops_user_info() -> None:
    assert display_url(f"rediss://backup:{SECRET}@db.example:6380/2") == "rediss://db.example:6380/2"
    assert display_url("redis://127.0.0.1/0") == "redis://127.0.0.1/0"


def test_password_from_env_file_or_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert make_target("redis://h:1/0").password is None
    assert make_target(f"redis://:{SECRET}@h:1/0").password == SECRET
    monkeypatch.setenv("DRKIT_REDIS_PASSWORD", "from-env")
    assert make_target(f"redis://:{SECRET}@h:1/0").password == "from-env"
    pw = tmp_path / "pw"
    pw.write_text("from-file\n")
    target = make_target("redis://h:1/0", password_file=pw, username="backup")
    assert (target.username, target.password) == ("backup", "from-file")
    assert "from-file" not in repr(target)


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        make_target("http://h:1")
    with pytest.raises(UsageError):
        make_target("redis://h:1", sentinels=("s:26379",))
    with pytest.raises(UsageError):
        parse_sentinel("no-port")
    with pytest.raises(UsageError):
        make_target("redis://h:1", password_file=tmp_path / "missing")
    assert parse_sentinel("10.0.0.1:26379") == ("10.0.0.1", 26379)


def test_translate_never_shows_the_password() -> None:
    target = make_target(f"redis://:{SECRET}@h:1/0")
    auth = translate(redis.AuthenticationError(f"WRONGPASS {SECRET}"), target)
    assert isinstance(auth, RedisAuthFailed) and auth.exit_code == 14
    down = translate(redis.ConnectionError(f"Error 111 connecting {SECRET}"), target)
    assert isinstance(down, RedisUnreachable) and down.exit_code == 14
    for err in (auth, down):
        assert SECRET not in err.message and SECRET not in (err.hint or "")


def test_sentinel_target_needs_no_url() -> None:
    target = make_target(None, sentinels=("10.0.0.9:26379",), master_name="cache")
    assert target.sentinels == (("10.0.0.9", 26379),) and target.url.startswith("redis://")
    assert target.display == "the primary 'cache' of Sentinels 10.0.0.9:26379"
    assert make_target(None, sentinels=("h:1",), master_name="m", tls_ca="/ca.pem").url.startswith("rediss://")
    with pytest.raises(UsageError, match="give --url, or --sentinel"):
        make_target(None)
    with pytest.raises(UsageError, match="needs --master-name"):
        make_target(None, sentinels=("h:1",))
