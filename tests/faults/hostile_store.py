"""Where the hostile engine's repositories live, seen the way an attacker with write access sees them:
raw objects to list, read, overwrite and delete, bypassing drkit. A local directory, or a prefix of an
S3 bucket on the SeaweedFS server the bench starts (tests/servers/seaweedfs.py), written with boto3."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Protocol

from faultkit import Target, local_target, s3_target
from zygote import Runner


class Store(Protocol):
    name: str  # "local" or "s3"

    def keys(self, prefix: str) -> list[str]:
        """The object keys under ``prefix``, sorted; temp files of the local backend left out."""
        ...

    def get(self, key: str) -> bytes: ...

    def put(self, key: str, data: bytes) -> None: ...

    def delete(self, key: str) -> None: ...

    def copy_to(self, other: Store) -> None:
        """Every object into ``other`` (empty), byte for byte."""
        ...


class LocalStore:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def keys(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        found = (p for p in base.rglob("*") if p.is_file() and not p.name.startswith("."))
        return sorted(p.relative_to(self.root).as_posix() for p in found)

    def get(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def delete(self, key: str) -> None:
        (self.root / key).unlink()

    def copy_to(self, other: Store) -> None:
        assert isinstance(other, LocalStore)
        shutil.copytree(self.root, other.root, symlinks=True)


class S3Store:
    name = "s3"

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}/{prefix}"
        )
        cut = len(self.prefix) + 1
        return sorted(o["Key"][cut:] for page in pages for o in page.get("Contents", []))

    def get(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.bucket, Key=f"{self.prefix}/{key}")["Body"].read())

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"{self.prefix}/{key}", Body=data)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=f"{self.prefix}/{key}")

    def copy_to(self, other: Store) -> None:
        for key in self.keys(""):
            other.put(key, self.get(key))


class Places:
    """Makes a fresh repository place (a Store and the Target drkit uses to reach it) per name."""

    def __init__(self, backend: str, work: Path, runner: Runner, server: Any = None) -> None:
        self.backend, self.work, self.runner, self.server = backend, work, runner, server
        if backend == "s3":
            self.bucket = server.make_bucket("drkit-hostile")
            self.client = server.client()

    def make(self, name: str) -> tuple[Store, Target]:
        if self.backend == "local":
            root = self.work / name
            return LocalStore(root), local_target(root, self.work / "home", self.runner)
        prefix = f"{self.work.name}-{name}"
        target = s3_target(self.server, self.bucket, prefix, self.work / "home", self.runner)
        return S3Store(self.client, self.bucket, prefix), target
