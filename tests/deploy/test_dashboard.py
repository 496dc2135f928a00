"""deploy/grafana/drkit-dashboard.json: well-formed for Grafana, every query parses as PromQL (promtool),
and every metric it names is one drkit exports -- checked against a real /metrics scrape of the
daemon's HTTP server after a backup, a failed backup, a drill, a check, a prune and a copy."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from clirun import drkit
from prometheus_client.parser import text_string_to_metric_families

from drkit.config.models import DrkitConfig
from drkit.scheduler.daemon import _prepare
from drkit.scheduler.health import HealthServer, Readiness

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "drkit-dashboard.json"
PW = "dashboard-Repo-Pass-4d1f"
METRIC = re.compile(r"\bdrkit_[a-z0-9_]+\b")
# what names labels, not metrics: matchers, grouping clauses, label_values' second argument
LABEL_CONTEXT = re.compile(r"\{[^}]*\}|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)|,[^,)]*\)")
# series that only a point-in-time job has (a physical PostgreSQL job's WAL, a Redis job's AOF
# archive): the scrape of a files-only daemon declares them (HELP/TYPE) without samples
DECLARED_ONLY = {"drkit_archive_newest_timestamp_seconds"}
GRAFANA_VARIABLES = {"$job": ".*", "$repository": ".*", "${datasource}": "x"}


def _dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return doc


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def _queries() -> list[str]:
    """Every PromQL expression of the panels, with Grafana's variables replaced by what they expand to."""
    out = []
    for panel in _panels():
        for target in panel["targets"]:
            expr = target["expr"]
            for name, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(name, value)
            assert "$" not in expr, f"{panel['title']}: unknown variable in {expr}"
            out.append(expr)
    return out


def _variable_metrics() -> set[str]:
    names = set()
    for variable in _dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            names |= _metrics_in(variable["definition"])
    return names


def _metrics_in(expr: str) -> set[str]:
    return set(METRIC.findall(LABEL_CONTEXT.sub(" ", expr)))


def _named_metrics() -> set[str]:
    return {name for expr in _queries() for name in _metrics_in(expr)} | _variable_metrics()


def test_metric_names_are_told_from_label_names() -> None:
    assert _metrics_in('max by (drkit_job) (drkit_a{drkit_job=~".*"}) and on (drkit_job) drkit_b[1d]') == {
        "drkit_a",
        "drkit_b",
    }
    assert _metrics_in("label_values(drkit_rpo_target_seconds, drkit_job)") == {"drkit_rpo_target_seconds"}


def test_the_dashboard_is_well_formed() -> None:
    doc = _dashboard()
    assert doc["uid"] and doc["title"] and doc["schemaVersion"] >= 36
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    names = {v["name"] for v in doc["templating"]["list"]}
    assert names == {"datasource", "job", "repository"}
    for panel in _panels():
        assert panel["targets"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]


def test_every_query_parses(tmp_path: Path) -> None:
    """Each query becomes a recording rule; `promtool check rules` parses it with Prometheus's parser."""
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool not on PATH (Debian: apt-get install prometheus)")
    rules = [{"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(_queries())]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = subprocess.run([tool, "check", "rules", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(rules)} rules found" in proc.stdout


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DrkitConfig:
    monkeypatch.setenv("DASHBOARD_PW", PW)
    for name in ("main", "offsite"):
        assert drkit("init", "--repo", str(tmp_path / name), env={"DRKIT_PASSWORD": PW}).returncode == 0
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("one\n" * 1000)
    main = {
        "url": str(tmp_path / "main"),
        "passphrase": {"env": "DASHBOARD_PW"},
        "prune": {"schedule": "0 4 * * 0", "grace": 0},
        "check": {"schedule": "0 3 * * *"},
        "copy": {"schedule": "30 3 * * *", "to": "offsite"},
    }
    offsite = {"url": str(tmp_path / "offsite"), "passphrase": {"env": "DASHBOARD_PW"}}
    jobs = {
        "files": {
            "source": {"kind": "files", "paths": [str(data)]},
            "retention": {"keep_last": 2},
            "drill": {"schedule": "0 5 * * *", "sandbox": "local"},
        },
        "gone": {"repository": "main", "source": {"kind": "files", "paths": [str(tmp_path / "missing")]}},
    }
    jobs["files"]["repository"] = "main"
    return DrkitConfig.model_validate({"repositories": {"main": main, "offsite": offsite}, "jobs": jobs})


def _scrape(config: DrkitConfig, state: Path) -> str:
    registry, runner = _prepare(config, state)
    runner.run("files", "backup")
    runner.run("gone", "backup")  # fails: the source is missing
    for repository, task in (("main", "check"), ("main", "copy"), ("main", "prune")):
        runner.run(repository, task)
    runner.run("files", "drill")
    server = HealthServer("127.0.0.1", 0, registry, Readiness({}))
    server.start()
    try:
        host, port = server.address
        request = urllib.request.Request(f"http://{host}:{port}/metrics")
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(response.read().decode())
    finally:
        server.stop()


def test_every_metric_the_dashboard_names_is_exported(config: DrkitConfig, tmp_path: Path) -> None:
    text = _scrape(config, tmp_path / "state")
    families = list(text_string_to_metric_families(text))
    sampled = {sample.name for family in families for sample in family.samples}
    declared = {family.name for family in families} | {f"{family.name}_total" for family in families}
    assert "drkit_backup_last_failure_timestamp_seconds" in sampled  # the runs above happened
    assert "drkit_rto_seconds" in sampled and "drkit_prune_freed_bytes" in sampled
    named = _named_metrics()
    assert len(named) >= 25
    missing = sorted(name for name in named - DECLARED_ONLY if name not in sampled)
    assert not missing, f"the dashboard names series the scrape does not hold: {missing}"
    assert DECLARED_ONLY <= declared
