"""Extras and test-only backends (issue #22, packaging), in process: the fast half of
tests/e2e/test_packaging.py."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from clirun import drkit, one_line_error

from drkit.core.extras import EXTRAS, MissingExtra, declared_extras, missing_extra
from storage_backends import TEST_BACKENDS_ENV, known_schemes

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())


def test_every_optional_import_names_an_extra_that_exists() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(EXTRAS.values()) <= set(extras)
    err = missing_extra(ModuleNotFoundError("No module named 'psycopg'", name="psycopg"))
    assert isinstance(err, MissingExtra) and err.exit_code == 2 and "drkit[postgres]" in err.message
    assert missing_extra(ModuleNotFoundError("x", name="drkit.nothing")) is None  # a bug stays a bug


def test_the_extras_come_from_the_package_metadata() -> None:
    """Which extra installs an import is read from pyproject.toml's optional-dependencies (via the installed
    metadata): a source's driver needs no table entry outside its package. Every import the hand-kept
    table named before maps as it did; the aggregate extras (all, test) are never named."""
    before = {
        "boto3": "s3",
        "botocore": "s3",
        "google": "gcs",
        "psycopg": "postgres",
        "psycopg_binary": "postgres",
        "redis": "redis",
        "testcontainers": "docker",
        "docker": "docker",
        "mfusepy": "mount",
        "opentelemetry": "otel",
        "rich": "rich",
    }
    assert {name: declared_extras().get(name) for name in before} == before
    assert not {"all", "test"} & set(declared_extras().values())
    assert missing_extra(ModuleNotFoundError("x", name="pytest")) is None  # a test-only tool is no feature


def test_all_and_test_extras_pull_every_extra() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    features = sorted(set(extras) - {"all", "test"})
    (everything,) = extras["all"]
    assert everything.startswith("drkit[") and set(everything[6:-1].split(",")) == set(features)
    assert "drkit[all]" in extras["test"]
    core = " ".join(PYPROJECT["project"]["dependencies"])
    for heavy in ("boto3", "google-cloud-storage", "psycopg", "redis", "testcontainers"):
        assert heavy not in core


def test_memory_and_faulty_only_with_the_test_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "memory" in known_schemes() and "faulty+file" in known_schemes()  # tests/conftest.py sets it
    monkeypatch.delenv(TEST_BACKENDS_ENV)
    assert not {"memory", "faulty+file", "faulty+s3", "faulty+gs"} & set(known_schemes())


def test_init_memory_without_the_switch_is_unknown_scheme() -> None:
    proc = drkit("init", "--repo", "memory://x", env={"DRKIT_PASSWORD": "pw", TEST_BACKENDS_ENV: "0"})
    assert proc.returncode == 2
    assert "unknown storage scheme 'memory'" in one_line_error(proc)
    listed = drkit("backends", "list", env={TEST_BACKENDS_ENV: "0"})
    assert b"memory" not in listed.stdout and b"faulty" not in listed.stdout


def test_drill_report_and_runbook_commands_load_without_the_source_extras() -> None:
    """The fast guard of tests/e2e/test_packaging.py's core-install drill: loading `drill`, `report` and
    `runbook` (and the drill runner) imports neither psycopg nor redis (the [postgres] and [redis]
    extras); before, each of them failed to load on a core install."""
    code = (
        "import sys\n"
        "import drkit.cli.cmd_drill, drkit.cli.cmd_runbook, drkit.drills.runner, drkit.drills.runbook\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('psycopg', 'redis')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_python_dash_m_drkit_is_the_cli(tmp_path: Path) -> None:
    """`python -m drkit` runs the CLI, exit codes included (before: "No module named drkit.__main__")."""
    proc = subprocess.run([sys.executable, "-m", "drkit", "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "drkit" in proc.stdout and PYPROJECT["project"]["version"] in proc.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "drkit", "check", "--repo", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DRKIT_PASSWORD": "pw"},
    )
    assert bad.returncode not in (0, 1) and bad.stderr.startswith("drkit: error: "), bad.stderr


def test_the_license_file_is_the_declared_license() -> None:
    root = Path(__file__).resolve().parents[2]
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert "LICENSE" in PYPROJECT["project"]["license-files"]
    text = (root / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
