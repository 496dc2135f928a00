"""Object Lock immutability against a real S3 server (SeaweedFS 4.48, bucket created with Object Lock).

What SeaweedFS enforces, checked here rather than assumed: deleting a locked object *version* is refused
with AccessDenied (and so is shortening its retention without the governance bypass), while a plain
``DeleteObject`` without a version id succeeds by adding a delete marker -- standard S3 behaviour: the
locked version survives, but a reader no longer sees the object. drkit therefore checks an object's
retention itself before every delete and keeps what is locked.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from clirun import drkit, one_line_error

ENV = {"DRKIT_PASSWORD": "immutable-pw"}
pytestmark = pytest.mark.integration


@pytest.fixture
def s3(seaweedfs_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    seaweedfs_server.apply_env(monkeypatch)
    return seaweedfs_server


def _backup(url: str, data: bytes) -> str:
    proc = drkit("backup", "stdin", "--name", "db", "--json", "--repo", url, stdin=data, env=ENV)
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["snapshot"])


def _keys(client: Any, bucket: str, prefix: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _expire(client: Any, bucket: str, key: str) -> None:
    """End an object's retention early, as an administrator with the governance bypass can."""
    soon = datetime.now(UTC) + timedelta(seconds=2)
    client.put_object_retention(
        Bucket=bucket,
        Key=key,
        BypassGovernanceRetention=True,
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": soon},
    )


def test_locked_objects_survive_forget_and_prune(s3: Any) -> None:
    client, bucket, prefix = s3.client(), s3.make_bucket("drkit-immutable", object_lock=True), uuid.uuid4().hex[:10]
    url = s3.url(bucket, prefix)
    init = drkit("init", "--repo", url, "--immutable-days", "1", "--pack-size-mib", "1", env=ENV)
    assert init.returncode == 0, init.stderr
    assert b"locked for 1 days (governance mode)" in init.stdout
    rnd = random.Random(7)
    shared = rnd.randbytes(1 << 20)
    streams = [rnd.randbytes(3 << 19) + shared for _ in range(3)]
    first, second, third = (_backup(url, s) for s in streams)

    for key in _keys(client, bucket, prefix):  # every object but locks carries retention
        if "/locks/" not in key:
            head = client.head_object(Bucket=bucket, Key=key)
            assert head["ObjectLockMode"] == "GOVERNANCE", key
            assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(hours=23), key

    _expire(client, bucket, f"{prefix}/snapshots/{first}")  # the oldest snapshot's retention has ended
    time.sleep(3)
    forget = drkit("forget", "--keep-last", "1", "--repo", url, env=ENV)
    assert forget.returncode == 0, forget.stderr
    assert f"snapshot {second[:8]} is locked until ".encode() in forget.stdout
    snaps = [s["id"] for s in json.loads(drkit("snapshots", "--json", "--repo", url, env=ENV).stdout)]
    assert snaps == [second, third]

    prune = drkit("prune", "--repo", url, env=ENV)
    assert prune.returncode == 0, prune.stderr
    locked_lines = [ln for ln in prune.stdout.decode().splitlines() if ln.startswith("pack ")]
    assert locked_lines and all(" is locked until " in ln and ln.endswith("; kept") for ln in locked_lines)
    again = json.loads(drkit("prune", "--json", "--repo", url, env=ENV).stdout)
    assert again["delete_packs"] == [] and again["repack_packs"] == [] and again["locked_packs"]
    assert _keys(client, bucket, f"{prefix}/manifests/superseded")  # old index objects are locked too

    check = drkit("check", "--read-data", "--json", "--repo", url, env=ENV)
    assert check.returncode == 0, check.stdout + check.stderr
    for snap, data in ((second, streams[1]), (third, streams[2])):
        assert drkit("restore", snap[:8], "--to", "-", "--repo", url, env=ENV).stdout == data

    pack = next(k for k in _keys(client, bucket, prefix) if "/data/" in k)
    version = client.head_object(Bucket=bucket, Key=pack)["VersionId"]
    with pytest.raises(ClientError) as denied:  # the server itself refuses to destroy a locked version
        client.delete_object(Bucket=bucket, Key=pack, VersionId=version)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"

    versions = client.list_object_versions(Bucket=bucket, Prefix=prefix + "/").get("Versions", [])
    counts: dict[str, int] = {}
    for v in versions:
        counts[v["Key"]] = counts.get(v["Key"], 0) + 1
    rewritten = [k for k, n in counts.items() if n > 1 and "/locks/" not in k]
    assert rewritten == []  # no object was ever rewritten in place


def test_a_plain_delete_only_hides_a_locked_object(s3: Any) -> None:
    """Why drkit checks retention before deleting: S3's DeleteObject answers with a delete marker."""
    client, bucket = s3.client(), s3.make_bucket("drkit-immutable", object_lock=True)
    key = f"scratch-{uuid.uuid4().hex[:8]}"
    until = datetime.now(UTC) + timedelta(days=1)
    put = client.put_object(
        Bucket=bucket, Key=key, Body=b"x", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until
    )
    assert client.delete_object(Bucket=bucket, Key=key)["DeleteMarker"] is True
    assert client.get_object(Bucket=bucket, Key=key, VersionId=put["VersionId"])["Body"].read() == b"x"


def test_compliance_mode_is_stored_with_each_object(s3: Any) -> None:
    bucket, prefix = s3.make_bucket("drkit-immutable", object_lock=True), uuid.uuid4().hex[:10]
    url = s3.url(bucket, prefix)
    assert drkit("init", "--repo", url, "--immutable-days", "1", "--lock-mode", "compliance", env=ENV).returncode == 0
    head = s3.client().head_object(Bucket=bucket, Key=f"{prefix}/config")
    assert head["ObjectLockMode"] == "COMPLIANCE"


def test_key_objects_are_locked_too(s3: Any, tmp_path: Path) -> None:
    bucket, prefix = s3.make_bucket("drkit-immutable", object_lock=True), uuid.uuid4().hex[:10]
    url = s3.url(bucket, prefix)
    assert drkit("init", "--repo", url, "--immutable-days", "1", env=ENV).returncode == 0
    (tmp_path / "new").write_text("second-pw")
    assert drkit("key", "add", "--repo", url, "--new-password-file", str(tmp_path / "new"), env=ENV).returncode == 0
    keys = json.loads(drkit("key", "list", "--json", "--repo", url, env=ENV).stdout)
    other = next(k["id"] for k in keys if not k["current"])
    proc = drkit("key", "remove", other[:8], "--repo", url, env=ENV)
    assert proc.returncode == 14
    assert "is locked until" in one_line_error(proc)


def test_init_refuses_a_bucket_without_object_lock(s3: Any) -> None:
    url = s3.url(s3.make_bucket("drkit-unlocked"), uuid.uuid4().hex[:10])
    proc = drkit("init", "--repo", url, "--immutable-days", "1", env=ENV)
    assert proc.returncode == 14
    assert "object-lock retention" in one_line_error(proc)
    assert b"hint: create the bucket with Object Lock enabled" in proc.stderr


def test_init_refuses_a_local_directory(tmp_path: Path) -> None:
    proc = drkit("init", "--repo", str(tmp_path / "repo"), "--immutable-days", "1", env=ENV)
    assert proc.returncode == 2
    assert "cannot lock objects" in one_line_error(proc)
