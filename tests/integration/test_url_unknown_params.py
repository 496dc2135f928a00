"""A storage URL with a parameter its backend does not know is refused (exit 2, one line naming it and the
known ones) before anything is read or written. Before, `s3://b/p?regoin=eu-west-1` or `?endpiont=…` was
ignored and the backup went to the default region or endpoint, somewhere the operator did not mean; the
oracle is the SeaweedFS bucket itself, listed with boto3: nothing under the prefix. A value is never
echoed, and the name of one that looks like a credential is not either."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from clirun import drkit, one_line_error

ENV = {"DRKIT_PASSWORD": "params"}
S3_KNOWN = "endpoint, kms_key_id, lock_mode, object_lock, path_style, region, sse, storage_class"
pytestmark = pytest.mark.integration


def _keys(server: Any, bucket: str, prefix: str) -> list[str]:
    listed = server.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


@pytest.mark.parametrize(
    ("typo", "named"),
    [
        ("regoin=eu-west-1", "'regoin' (did you mean 'region'?)"),
        ("endpiont=http://127.0.0.1:1", "'endpiont' (did you mean 'endpoint'?)"),
        ("pathstyle=true", "'pathstyle' (did you mean 'path_style'?)"),
        ("regoin", "'regoin' (did you mean 'region'?)"),  # no value at all
    ],
)
def test_an_unknown_s3_parameter_is_refused_before_anything_is_written(
    typo: str, named: str, seaweedfs_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    seaweedfs_server.apply_env(monkeypatch, DRKIT_S3_ENDPOINT=seaweedfs_server.endpoint)  # where it used to go
    bucket, prefix = seaweedfs_server.make_bucket("drkit-params"), uuid.uuid4().hex[:10]
    url = f"s3://{bucket}/{prefix}?{typo}"
    (tmp_path / "f").write_text("x\n")
    for argv in (["init"], ["backup", "files", str(tmp_path / "f")], ["snapshots"]):
        proc = drkit(*argv, "--repo", url, env=ENV)
        assert proc.returncode == 2, proc.stderr.decode()
        line = one_line_error(proc)
        assert f"unknown parameter {named}" in line and f"known: {S3_KNOWN}" in line, line
    assert _keys(seaweedfs_server, bucket, prefix) == []

    good = seaweedfs_server.url(bucket, prefix)  # every known parameter still works
    assert drkit("init", "--repo", good, env=ENV).returncode == 0
    assert _keys(seaweedfs_server, bucket, prefix) != []


def test_secrets_in_unknown_parameters_are_not_echoed(tmp_path: Any) -> None:
    for query, shown in [
        (
            "aws_secret_access_key=wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
            "unknown parameter named like a credential (name not shown)",
        ),
        ("endpiont=http://AKIAEXAMPLE:wJalrXUtnFEMIK7MDENG@host:9000", "unknown parameter 'endpiont'"),
        ("wJalrXUtnFEMI/K7MDENG+bPxRfiCY=", "unknown parameter (name not shown)"),
        ("AKIAIOSFODNN7EXAMPLE=x", "unknown parameter (name not shown)"),
    ]:
        proc = drkit("snapshots", "--repo", f"s3://bucket/p?region=x&{query}", env=ENV)
        assert proc.returncode == 2, proc.stderr.decode()
        err = proc.stderr.decode()
        assert shown in one_line_error(proc), err
        assert not any(s in err for s in ("wJalrXUtnFEMI", "AKIA", "EXAMPLEKEY")), err


def test_an_unknown_gcs_parameter_is_refused(fakegcs_server: Any) -> None:
    env = {**ENV, "STORAGE_EMULATOR_HOST": fakegcs_server.endpoint}
    bucket = fakegcs_server.make_bucket("drkit-params")
    proc = drkit("init", "--repo", f"gs://{bucket}/p?projet=x", env=env)
    assert proc.returncode == 2, proc.stderr.decode()
    assert "unknown parameter 'projet' (did you mean 'project'?); known: project" in one_line_error(proc)
    assert drkit("init", "--repo", f"gs://{bucket}/p?project=x", env=env).returncode == 0


def test_an_unknown_file_parameter_is_refused(tmp_path: Any) -> None:
    proc = drkit("init", "--repo", f"file://{tmp_path}/repo?crate=false", env=ENV)
    assert proc.returncode == 2, proc.stderr.decode()
    assert "unknown parameter 'crate' (did you mean 'create'?); known: create" in one_line_error(proc)
    assert not (tmp_path / "repo").exists()
