"""``receive`` in a PostgreSQL source (WAL streaming by the daemon): physical mode only, defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from drkit.config import ConfigError, load_config
from drkit.sources.postgres.config import PostgresSource


def _config(tmp: Path, mode: str, receive: dict[str, object]) -> Path:
    source = {"kind": "postgres", "dsn": "postgresql://backup@db/postgres", "mode": mode, "receive": receive}
    doc = {
        "repositories": {"default": {"url": "/srv/repo", "passphrase": {"env": "P"}}},
        "jobs": {"db": {"source": source}},
    }
    path = tmp / "drkit.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_receive_defaults(tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path, "physical", {"spool_dir": "/var/lib/drkit/wal"}))
    source = cfg.jobs["db"].source
    assert isinstance(source, PostgresSource) and source.receive is not None
    assert source.receive.slot == "drkit" and source.receive.interval == 1.0
    assert source.receive.spool_dir == Path("/var/lib/drkit/wal")


@pytest.mark.parametrize(
    ("mode", "receive", "problem"),
    [
        ("logical", {"spool_dir": "/w"}, "needs mode: physical"),
        ("physical", {"spool_dir": "/w", "slot": "Bad-Slot"}, "slot"),
        ("physical", {"spool_dir": "/w", "interval": "0s"}, "interval"),
        ("physical", {}, "spool_dir"),
    ],
)
def test_receive_refused(tmp_path: Path, mode: str, receive: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, mode, receive))
    assert problem in " ".join(err.value.problems)
