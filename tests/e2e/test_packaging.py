"""`pip install drkit` without extras: a lean install that backs up and restores files, and names
the extra to install when a command needs one (issue #22, packaging).

The wheel is built from this checkout and installed into a fresh virtual environment from the
machine's package cache (the pip configuration of the real HOME: the suite's HOME is private)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
REAL_ENV = dict(os.environ)  # read at collection, before the isolation fixture replaces HOME and caches
# drkit and its core dependencies: 26 before Argon2id came from cryptography, 24 with pydantic-settings
# (and python-dotenv), 22 with rich (and markdown-it-py, mdurl, pygments; now drkit[rich]); all: 56
CORE_MAX_DISTRIBUTIONS = 18
OPTIONAL = {
    "boto3",
    "botocore",
    "google-cloud-storage",
    "psycopg",
    "psycopg-binary",
    "redis",
    "testcontainers",
    "docker",
    "opentelemetry-sdk",
    "opentelemetry-api",
    "opentelemetry-exporter-otlp-proto-http",
    "protobuf",
    "argon2-cffi",
    "rich",
    "pydantic-settings",
}

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _run(*cmd: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("packaging")
    pip_env = {k: v for k, v in REAL_ENV.items() if not k.startswith("DRKIT_")}
    built = _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", work / "wheel", ROOT, env=pip_env)
    assert built.returncode == 0, built.stderr
    venv = work / "venv"
    assert _run("/usr/bin/python3", "-m", "venv", venv).returncode == 0
    wheel = next((work / "wheel").glob("drkit-*.whl"))
    installed = _run(venv / "bin" / "pip", "install", "-q", wheel, env=pip_env)
    assert installed.returncode == 0, installed.stderr
    return venv


def _distributions(venv: Path) -> set[str]:
    out = _run(venv / "bin" / "pip", "list", "--format=freeze", "--exclude", "pip", "--exclude", "setuptools")
    return {line.split("==")[0].lower().replace("_", "-") for line in out.stdout.split()}


def _drkit(venv: Path, *args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "DRKIT_TEST_BACKENDS"}  # as a user runs it
    return _run(venv / "bin" / "drkit", *args, env={**base, "DRKIT_PASSWORD": "pw-packaging", **(env or {})})


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("drkit: error: ")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_core_install_is_lean(core_venv: Path) -> None:
    dists = _distributions(core_venv)
    assert "drkit" in dists
    assert not dists & OPTIONAL, dists & OPTIONAL
    assert len(dists) <= CORE_MAX_DISTRIBUTIONS, sorted(dists)
    licensed = _run(
        core_venv / "bin" / "python",
        "-c",
        "import importlib.metadata as m; print([f.name for f in m.files('drkit') if 'LICENSE' in f.name])",
    )
    assert "LICENSE" in licensed.stdout, licensed.stdout + licensed.stderr
    by_module = _run(core_venv / "bin" / "python", "-m", "drkit", "--version")
    assert by_module.returncode == 0 and "drkit" in by_module.stdout, by_module.stderr


def test_core_install_backs_up_and_restores_files(core_venv: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "a.txt").write_text("alpha\n")
    (src / "b.bin").write_bytes(os.urandom(300_000))
    os.symlink("d/a.txt", src / "link")
    repo = tmp_path / "repo"
    assert _drkit(core_venv, "--help").returncode == 0
    for args in (
        ("init", "--repo", repo),
        ("backup", "files", "--repo", repo, src),
        ("restore", "latest", "--repo", repo, "--target", tmp_path / "out"),
        ("check", "--repo", repo),
    ):
        proc = _drkit(core_venv, *args)
        assert proc.returncode == 0, (args, proc.stderr)
    # an OTLP endpoint without drkit[otel]: one warning, and the run goes on untraced
    traced = _drkit(
        core_venv, "backup", "files", "--repo", repo, src, env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    )
    assert traced.returncode == 0, traced.stderr
    assert traced.stderr.count("traces not exported") == 1 and "drkit[otel]" in traced.stderr
    restored = tmp_path / "out" / "src"  # a files snapshot restores each backed-up path under its name
    diff = _run("rsync", "-aHAXS", "--dry-run", "--checksum", "--itemize-changes", f"{src}/", f"{restored}/")
    assert diff.returncode == 0 and diff.stdout == "", diff.stdout + diff.stderr


def test_core_install_drills_reports_and_runs_a_runbook(core_venv: Path, tmp_path: Path) -> None:
    """Before: `drill`, `report` and `runbook` imported the PostgreSQL and Redis drill code (psycopg,
    redis) when they loaded, so on a core install each one ended 'this needs ... drkit[redis]' even for
    a files job."""
    src, repo = tmp_path / "src", tmp_path / "repo"
    (src / "d").mkdir(parents=True)
    (src / "d" / "a.txt").write_text("alpha\n")
    (src / "b.bin").write_bytes(os.urandom(200_000))
    config = tmp_path / "drkit.yaml"
    jobs = {
        "files": {
            "source": {"kind": "files", "paths": [str(src)]},
            "canary": {"enabled": True},
            "checks": [{"path_exists": "src/d/a.txt"}],
        },
        "pg": {"source": {"kind": "postgres", "dsn": "postgresql://127.0.0.1:1/x"}},
    }
    repos = {"default": {"url": str(repo), "passphrase": {"env": "DRKIT_PASSWORD"}}}
    config.write_text(yaml.safe_dump({"repositories": repos, "jobs": jobs}))
    assert _drkit(core_venv, "init", "--repo", repo).returncode == 0
    for args in (
        ("job", "run", "files"),
        ("drill", "files", "--sandbox", "local", "--json", tmp_path / "drill.json"),
        (
            "runbook",
            "run",
            "lost-file-volume",
            "--job",
            "files",
            "--sandbox",
            "local",
            "--json",
            tmp_path / "runbook.json",
        ),
    ):
        proc = _drkit(core_venv, "--config", config, *args)
        assert proc.returncode == 0, (args, proc.stderr)
        if args[0] != "job":  # without drkit[rich] the report's table is plain text, then the verdict
            assert "restore drill: files" in proc.stdout and "drill passed" in proc.stdout, proc.stdout
    for name in ("drill.json", "runbook.json"):
        report = json.loads((tmp_path / name).read_text())
        (drill,) = report["drills"]
        assert report["success"] and drill["job"] == "files", report
        assert {"files.content", "files.metadata", "user.path[0]", "canary"} <= {c["name"] for c in drill["checks"]}
    history = _drkit(core_venv, "--config", config, "report")
    assert history.returncode == 0 and "files: 2 drills, 2 passed" in history.stdout, history.stderr
    listed = _drkit(core_venv, "runbook", "list")
    assert listed.returncode == 0 and "lost-file-volume" in listed.stdout
    shown = _drkit(core_venv, "runbook", "show", "postgres-total-loss")
    assert shown.returncode == 0 and shown.stdout.startswith("# ")
    proc = _drkit(core_venv, "--config", config, "drill", "pg", "--sandbox", "local")
    assert proc.returncode == 2 and "drkit[postgres]" in _error_line(proc)


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (("backup", "postgres", "--repo", "REPO", "postgresql://localhost/x"), "postgres"),
        (("backup", "redis", "--repo", "REPO", "--url", "redis://localhost"), "redis"),
        (("init", "--repo", "s3://bucket/prefix"), "s3"),
        (("init", "--repo", "gs://bucket/prefix"), "gcs"),
        (("pg", "wal-push", "--help"), "postgres"),
    ],
)
def test_missing_extra_is_one_line_naming_it(
    core_venv: Path, tmp_path: Path, args: tuple[str, ...], extra: str
) -> None:
    proc = _drkit(core_venv, *(str(tmp_path / "repo") if a == "REPO" else a for a in args))
    assert proc.returncode == 2, proc.stderr
    assert f"drkit[{extra}]" in _error_line(proc)
    assert f"pip install 'drkit[{extra}]'" in proc.stderr


def test_test_backends_are_not_offered_to_users(core_venv: Path, tmp_path: Path) -> None:
    proc = _drkit(core_venv, "init", "--repo", "memory://x")
    assert proc.returncode == 2
    assert "unknown storage scheme 'memory'" in _error_line(proc)
    listed = _drkit(core_venv, "backends", "list")
    assert listed.returncode == 0 and "memory" not in listed.stdout and "faulty" not in listed.stdout
