"""Credentials written into a storage URL (``s3://KEY:SECRET@bucket``, ``?endpoint=http://KEY:SECRET@host``)
never appear in errors, ``--json``, ``config show``, the daemon's ``/readyz`` reason or debug logs (botocore
logs request headers at debug); a URL a backend cannot use is a usage error (exit 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hostile_kit import one_line, run

KEY_ID, SECRET = "AKIAHOSTILEKEYID", "hostileSECRETvalue123"
URLS = [
    f"s3://{KEY_ID}:{SECRET}@bucket/prefix",
    f"s3://bucket/prefix?endpoint=http://{KEY_ID}:{SECRET}@127.0.0.1:1&path_style=true",
]
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIAENVKEYID0000", "AWS_SECRET_ACCESS_KEY": "envSECRET0000000"}


def _clean(text: str) -> None:
    assert SECRET not in text and KEY_ID not in text, text


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_url_credentials_not_in_errors(url: str, json_flag: tuple[str, ...]) -> None:
    proc = run("snapshots", "--repo", url, *json_flag, env=FAKE_CREDENTIALS, timeout=120)
    assert proc.returncode == 14, proc.stderr
    _clean(proc.stdout + proc.stderr)


def test_url_credentials_not_in_config_show(tmp_path: Path) -> None:
    config = tmp_path / "drkit.yaml"
    config.write_text(
        "repositories:\n"
        + "".join(f'  r{i}:\n    url: "{url}"\n    passphrase: {{env: DRKIT_PASSWORD}}\n' for i, url in enumerate(URLS))
    )
    for args in (("config", "show"), ("config", "show", "--json")):
        proc = run("--config", str(config), *args)
        assert proc.returncode == 0, proc.stderr
        assert "bucket" in proc.stdout
        _clean(proc.stdout + proc.stderr)


def test_url_credentials_not_in_readyz_reason() -> None:
    from drkit.scheduler.health import check_repository

    for url in URLS:
        reason = check_repository("r", url)
        assert reason is not None
        _clean(reason)


def test_debug_log_has_no_authorization_header(seaweedfs_server: Any, tmp_path: Path) -> None:
    url = seaweedfs_server.url(seaweedfs_server.make_bucket("drkit-hostile"), "repo-debug")
    env = seaweedfs_server.env()
    proc = run("--log-level", "debug", "init", "--repo", url, env=env)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout + proc.stderr
    assert "Authorization" not in text and "AWS4-HMAC-SHA256" not in text, text[:3000]
    assert env["AWS_SECRET_ACCESS_KEY"] not in text


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix", "s3://bucket/p?lock_mode=nonsense"])
def test_unusable_url_is_a_usage_error(url: str) -> None:
    line = one_line(run("snapshots", "--repo", url, env=FAKE_CREDENTIALS), 2)
    assert "bucket" in line or "lock_mode" in line
