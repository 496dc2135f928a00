"""``systems:`` in drkit.yaml: jobs restored, drilled and measured together. A system names known jobs, each
once, with its own targets and the skew a point-in-time restore allows; a mistake is an error with its path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from drkit.config import ConfigError, load_config
from drkit.core.errors import UsageError

BASE = {
    "repositories": {"default": {"url": "/srv/repo", "passphrase": {"env": "REPO_PASS"}}},
    "jobs": {
        "app-db": {"source": {"kind": "postgres", "dsn": "postgresql://backup@db/app", "mode": "physical"}},
        "cache": {"source": {"kind": "redis", "url": "redis://cache:6379/0"}},
        "uploads": {"source": {"kind": "files", "paths": ["/srv/uploads"]}},
    },
}


def _load(tmp_path: Path, systems: object) -> object:
    path = tmp_path / "drkit.yaml"
    path.write_text(yaml.safe_dump({**BASE, "systems": systems}))
    return load_config(path)


def test_a_system_loads_with_its_targets_and_defaults(tmp_path: Path) -> None:
    cfg = _load(
        tmp_path, {"shop": {"jobs": ["app-db", "cache", "uploads"], "targets": {"rpo": "1min", "rto": "15min"}}}
    )
    shop = cfg.system("shop")  # type: ignore[attr-defined]
    assert shop.jobs == ["app-db", "cache", "uploads"]
    assert (shop.targets.rpo, shop.targets.rto, shop.max_skew, shop.heartbeat) == (60, 900, 1.0, None)


@pytest.mark.parametrize(
    ("systems", "path", "words"),
    [
        ({"shop": {"jobs": ["app-db", "nope"]}}, "systems.shop.jobs", "unknown job 'nope'"),
        ({"shop": {"jobs": []}}, "systems.shop.jobs", "at least 1"),
        ({"shop": {"jobs": ["cache", "cache"]}}, "systems.shop", "listed twice"),
        ({"shop": {"jobs": ["cache"], "targets": {"rpo": "1m"}}}, "systems.shop.targets.rpo", "ambiguous"),
        ({"shop": {"jobs": ["cache"], "max_skew": "-1s"}}, "systems.shop.max_skew", ""),
        ({"shop": {"jobs": ["cache"], "tpyo": 1}}, "systems.shop.tpyo", "Extra inputs"),
        ({"Shop!": {"jobs": ["cache"]}}, "systems.Shop!", "pattern"),
    ],
)
def test_a_bad_system_is_an_error_naming_its_path(tmp_path: Path, systems: object, path: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, systems)
    text = "\n".join(err.value.problems)
    assert words in text, text
    assert path in text, text


def test_an_unknown_system_name_is_a_usage_error(tmp_path: Path) -> None:
    cfg = _load(tmp_path, {"shop": {"jobs": ["cache"]}})
    with pytest.raises(UsageError, match="no system named 'shup'.*systems: shop"):
        cfg.system("shup")  # type: ignore[attr-defined]
