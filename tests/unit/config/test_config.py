"""drkit.yaml: a valid file loads; every kind of invalid field is reported with its path in one
error; the environment overrides the file; secrets are references, never printed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from clirun import drkit

from drkit.config import ConfigError, load_config, parse_duration, redacted
from drkit.config.cron import cron_trigger
from drkit.config.example import EXAMPLE

SECRET = "Sekr1t-Value-Never-Printed-7"

VALID = {
    "repositories": {
        "default": {"url": "/srv/repo", "passphrase": {"env": "REPO_PASS"}},
        "offsite": {"url": "s3://bucket/drkit", "passphrase": {"file": "/run/secrets/pass"}},
    },
    "jobs": {
        "db": {
            "source": {
                "kind": "postgres",
                "dsn": "postgresql://backup@db:5432/app",
                "password": {"command": "vault read -field=pw db"},
                "mode": "physical",
            },
            "schedule": "*/10 * * * * *",
            "targets": {"rpo": "5min", "rto": "1h30min"},
            "retention": {"keep_daily": 7},
            "checks": [{"sql": "SELECT 1", "expect": "1"}],
        },
        "cache": {
            "source": {"kind": "redis", "url": "redis://cache:6379/0"},
            "repository": "offsite",
            "checks": [{"redis": "GET k", "expect": "v"}],
        },
        "files": {"source": {"kind": "files", "paths": ["/srv/data"]}, "checks": [{"path_exists": "data/x"}]},
    },
}


def _write(tmp: Path, doc: object) -> Path:
    path = tmp / "drkit.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_valid_file_loads_with_defaults(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, VALID))
    assert cfg.jobs["db"].targets.rpo == 300 and cfg.jobs["db"].targets.rto == 5400
    assert cfg.jobs["cache"].targets.rpo == 300 and cfg.jobs["cache"].targets.rto == 900  # defaults 5m / 15m
    assert cfg.jobs["files"].repository == "default"
    assert cfg.scheduler.max_concurrent == 2


def test_every_invalid_field_is_listed_in_one_error(tmp_path: Path) -> None:
    doc = yaml.safe_load(yaml.safe_dump(VALID))
    doc["jobs"]["db"]["schedule"] = "61 * * * *"
    doc["jobs"]["db"]["targets"]["rpo"] = "soon"
    doc["jobs"]["db"]["retention"]["keep_daily"] = -1
    doc["jobs"]["cache"]["source"]["url"] = "http://cache"
    doc["jobs"]["files"]["tpyo"] = 1
    doc["jobs"]["files"]["source"]["kind"] = "ftp"
    doc["repositories"]["default"]["passphrase"] = {"env": "A", "file": "/b"}
    doc["scheduler"] = {"max_concurrent": 0}
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, doc))
    paths = sorted(p.split(":")[0] for p in err.value.problems)
    assert paths == sorted(
        [
            "repositories.default.passphrase",
            "jobs.db.schedule",
            "jobs.db.retention.keep_daily",
            "jobs.db.targets.rpo",
            "jobs.cache.source.redis.url",
            "jobs.files.source",
            "jobs.files.tpyo",
            "scheduler.max_concurrent",
        ]
    ), err.value.problems
    assert err.value.exit_code == 2


def test_unknown_repository_and_bad_yaml(tmp_path: Path) -> None:
    doc = {"repositories": {}, "jobs": {"x": {"source": {"kind": "files", "paths": ["/a"]}}}}
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, doc))
    assert "unknown repository 'default'" in err.value.problems[0]
    bad = tmp_path / "bad.yaml"
    bad.write_text("jobs: [\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert "not valid YAML" in err.value.problems[0]
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "missing.yaml")
    assert "cannot read" in err.value.problems[0]


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRKIT_SCHEDULER__MAX_CONCURRENT", "5")
    monkeypatch.setenv("DRKIT_LOG_LEVEL", "debug")
    monkeypatch.setenv("DRKIT_JOBS__DB__SCHEDULE", "0 3 * * *")
    monkeypatch.setenv("DRKIT_REPOSITORIES__DEFAULT__URL", "/elsewhere")
    cfg = load_config(_write(tmp_path, VALID))
    assert cfg.scheduler.max_concurrent == 5
    assert cfg.log_level == "debug"
    assert cfg.jobs["db"].schedule == "0 3 * * *"
    assert cfg.jobs["db"].targets.rpo == 300  # untouched keys of the same job survive
    assert cfg.repositories["default"].url == "/elsewhere"
    monkeypatch.setenv("DRKIT_SCHEDULER__MAX_CONCURRENT", "many")
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, VALID))
    assert err.value.problems[0].startswith("scheduler.max_concurrent:")


def test_secrets_are_references_never_printed(tmp_path: Path) -> None:
    doc = yaml.safe_load(yaml.safe_dump(VALID))
    doc["jobs"]["db"]["source"]["dsn"] = f"postgresql://backup:{SECRET}@db/app"
    path = _write(tmp_path, doc)
    proc = drkit("--config", str(path), "config", "validate")
    assert proc.returncode == 2
    assert SECRET not in (proc.stdout + proc.stderr).decode()
    assert "jobs.db.source.postgres.dsn: put the password" in proc.stderr.decode()
    ok_path = _write(tmp_path, VALID)
    shown = drkit("--config", str(ok_path), "config", "show", env={"REPO_PASS": SECRET})
    assert shown.returncode == 0, shown.stderr.decode()
    out = shown.stdout.decode()
    assert SECRET not in out and "<from env REPO_PASS>" in out and "<from command>" in out
    assert "vault read" not in out  # a command can carry a token
    assert redacted(load_config(ok_path))["repositories"]["offsite"]["passphrase"] == "<from file /run/secrets/pass>"


def test_example_config_is_valid(tmp_path: Path) -> None:
    proc = drkit("init-config", str(tmp_path / "drkit.yaml"))
    assert proc.returncode == 0
    assert (tmp_path / "drkit.yaml").read_text() == EXAMPLE
    assert len(load_config(tmp_path / "drkit.yaml").jobs) == 3
    again = drkit("init-config", str(tmp_path / "drkit.yaml"))
    assert again.returncode == 2


def test_durations_and_cron() -> None:
    assert parse_duration("1h30min") == 5400 and parse_duration("90s") == 90 and parse_duration(12) == 12
    with pytest.raises(ValueError):
        parse_duration("5 parsecs")
    trigger = cron_trigger("0 0 * * 0")  # crontab: 0 = Sunday
    assert "sun" in str(trigger)
    six = cron_trigger("*/10 * * * * *")
    assert "second='*/10'" in repr(six)


@pytest.mark.parametrize(
    "field, value", [("targets", {"rto": "5m"}), ("jitter", "2m"), ("retention", {"keep_within": "2m"})]
)
def test_an_ambiguous_m_is_refused_naming_the_field(tmp_path: Path, field: str, value: object) -> None:
    """`2m` was 120 s in drkit.yaml and 60 days on the command line; now neither reads it."""
    doc = {
        "repositories": VALID["repositories"],
        "jobs": {"files": {"source": {"kind": "files", "paths": ["/srv"]}, field: value}},
    }
    path = _write(tmp_path, doc)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.exit_code == 2
    [problem] = caught.value.problems
    assert problem.startswith(f"jobs.files.{field}") and "use `min` for minutes or `mo` for months" in problem
    proc = drkit("--config", str(path), "config", "validate")
    assert proc.returncode == 2 and b"use `min` for minutes or `mo` for months" in proc.stderr


def test_retention_span_is_calendar_and_the_same_as_on_the_command_line(tmp_path: Path) -> None:
    doc = {
        "repositories": VALID["repositories"],
        "jobs": {
            "files": {"source": {"kind": "files", "paths": ["/srv"]}, "retention": {"keep_within": "1y 6 months"}}
        },
    }
    retention = load_config(_write(tmp_path, doc)).jobs["files"].retention
    assert retention is not None and retention.keep_within == "1y6mo"
    from drkit.cli.params import SPAN
    from drkit.core.durations import Duration
    from drkit.jobs.backup import retention_policy

    on_the_command_line = SPAN.convert("1y 6 months", None, None)
    assert retention_policy(retention).keep_within == on_the_command_line == Duration(months=18)


def test_every_shipped_runbook_reads_in_the_duration_grammar() -> None:
    from drkit.drills.runbook import list_runbooks

    books = {b.name: b for b in list_runbooks()}
    assert len(books) >= 5
    assert books["postgres-pitr-bad-delete"].targets.rto == 1800 and books["redis-loss"].targets.rto == 900


def test_redis_source_through_sentinels_needs_no_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from drkit.sources.redis.config import RedisSource
    from drkit.sources.redis.plugin_conn import redis_target

    monkeypatch.setenv("REDIS_PW", "pw-x")
    source = RedisSource.model_validate(
        {"kind": "redis", "sentinels": ["10.0.0.9:26379"], "master_name": "cache", "password": {"env": "REDIS_PW"}}
    )
    target = redis_target(source)
    assert target.sentinels == (("10.0.0.9", 26379),) and target.master_name == "cache"
    assert target.password == "pw-x"
    with pytest.raises(ValueError, match="give url, or sentinels"):
        RedisSource.model_validate({"kind": "redis"})
    with pytest.raises(ValueError, match="sentinels need master_name"):
        RedisSource.model_validate({"kind": "redis", "sentinels": ["h:1"]})
