from __future__ import annotations

import json
import socket
import subprocess
import sys

from click.testing import CliRunner

from drkit.cli.main import cli


def run_drkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drkit.cli.main", *args], capture_output=True, text=True)


def test_check_local_passes(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["backends", "check", "--json", str(tmp_path / "repo")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    assert [s["name"] for s in report["steps"]] == ["create", "read", "range", "list", "delete"]
    assert list((tmp_path / "repo").rglob("*")) == [tmp_path / "repo" / "drkit-check"]


def test_unknown_scheme_is_one_line_usage_error() -> None:
    proc = run_drkit("backends", "check", "nope://bucket/x")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["drkit: error: unknown storage scheme 'nope' (known: file, gs, s3)"]


def test_unreachable_s3_endpoint_exit_14(monkeypatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value")
    proc = run_drkit("backends", "check", f"s3://bucket/p?endpoint=http://127.0.0.1:{port}")
    assert proc.returncode == 14, proc.stderr
    assert proc.stderr.startswith("drkit: error: ")
    assert "Traceback" not in proc.stderr and "very-secret-value" not in proc.stderr


def test_s3_wrong_credentials_and_missing_bucket_exit_14(seaweedfs_server) -> None:  # type: ignore[no-untyped-def]
    bucket = seaweedfs_server.make_bucket("cli-check")
    good = seaweedfs_server.env()
    ok = run_drkit_env(good, "backends", "check", seaweedfs_server.url(bucket, "p"))
    assert ok.returncode == 0, ok.stderr
    wrong = {**good, "AWS_SECRET_ACCESS_KEY": "definitely-wrong-secret"}
    for env, url, word in (
        (wrong, seaweedfs_server.url(bucket, "p"), "denied"),
        (good, seaweedfs_server.url("no-such-bucket", "p"), "bucket"),
    ):
        proc = run_drkit_env(env, "backends", "check", url)
        assert proc.returncode == 14, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert lines[0].startswith("drkit: error: ") and word in lines[0].lower(), proc.stderr
        assert "Traceback" not in proc.stderr and "definitely-wrong-secret" not in proc.stderr


def test_gcs_missing_bucket_exit_14(fakegcs_server) -> None:  # type: ignore[no-untyped-def]
    env = {"STORAGE_EMULATOR_HOST": fakegcs_server.endpoint}
    bucket = fakegcs_server.make_bucket("cli-check")
    ok = run_drkit_env(env, "backends", "check", f"gs://{bucket}/p?project={fakegcs_server.project}")
    assert ok.returncode == 0, ok.stderr
    proc = run_drkit_env(env, "backends", "check", f"gs://no-such-bucket/p?project={fakegcs_server.project}")
    assert proc.returncode == 14, proc.stderr
    assert proc.stderr.startswith("drkit: error: ") and "Traceback" not in proc.stderr


def run_drkit_env(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "drkit.cli.main", *args], capture_output=True, text=True, env={**os.environ, **env}
    )
