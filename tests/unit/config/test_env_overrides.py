"""``DRKIT_…`` environment overrides, read without pydantic-settings (issue #22: a leaner core install).

The rules pydantic-settings applied stay: names are case-insensitive, nested keys are joined by ``__``,
the environment wins key by key over the file, a JSON object or list is decoded, and variables that name
no config field (``DRKIT_PASSWORD``, ``DRKIT_CONFIG``) are not config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from drkit.config import ConfigError, load_config

REPO = {"url": "/srv/repo", "passphrase": {"env": "REPO_PASS"}}
DOC = {"repositories": {"default": REPO}, "scheduler": {"max_concurrent": 3, "shutdown_grace": 60}}


def _write(tmp: Path) -> Path:
    path = tmp / "drkit.yaml"
    path.write_text(yaml.safe_dump(DOC))
    return path


def test_other_drkit_variables_are_not_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRKIT_PASSWORD", "not-a-field")
    monkeypatch.setenv("DRKIT_TEST_BACKENDS", "1")
    monkeypatch.setenv("drkit_log_level", "warning")  # names are case-insensitive
    cfg = load_config(_write(tmp_path))
    assert cfg.log_level == "warning"
    assert cfg.scheduler.max_concurrent == 3


def test_json_values_and_key_by_key_merge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRKIT_HTTP", '{"port": 9300}')
    monkeypatch.setenv("DRKIT_SCHEDULER__MAX_CONCURRENT", "7")
    cfg = load_config(_write(tmp_path))
    assert cfg.http.port == 9300
    assert (cfg.scheduler.max_concurrent, cfg.scheduler.shutdown_grace) == (7, 60)


def test_an_override_for_an_unknown_key_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRKIT_SCHEDULER__MAX_PARALLEL", "7")
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path))
    assert err.value.problems == ["scheduler.max_parallel: Extra inputs are not permitted"]
