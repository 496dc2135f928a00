"""Files drills in a container (``--sandbox docker``) on a real Docker engine (``tests/servers/docker.py``;
the python:3.11-slim-bookworm stand-in). The restored tree is mounted read-only into a container that
lists and checksums it; the drill compares that view with the snapshot (``files.container``).

Oracles: rsync (an independent tool) finds no difference between the source and what `drkit restore
files` writes, and the container's view of that same tree matches the snapshot; each way of being
wrong (a byte changed with size and mtime kept, a mode, an extra or a missing entry) then fails the
container check naming the entry."""

from __future__ import annotations

import json
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from adversarial.hostile_kit import same_tree
from clirun import drkit
from drillkit import ENV, init_repo, ok, write_config
from servers.docker import DockerEngine, ensure_image

from drkit.config.load import load_config
from drkit.jobs.connect import open_job_repository
from drkit.sources.files.drills.listing import compare_listing
from drkit.sources.files.drills.sandbox import DEFAULT_IMAGE, container_listing
from drkit.sources.files.drills.verify import verify_files
from drkit.sources.files.ops import find_files_snapshot

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture(scope="module")
def files_image(docker_engine: DockerEngine) -> str:
    ensure_image(docker_engine, DEFAULT_IMAGE, "python")
    return DEFAULT_IMAGE


def _source(tmp: Path) -> Path:
    src = tmp / "data"
    (src / "sub" / "deeper").mkdir(parents=True)
    for i in range(30):
        (src / "sub" / f"f{i}.txt").write_text(f"file {i}\n" * (i * 50 + 1))
    (src / "sub" / "deeper" / "big.bin").write_bytes(os.urandom(2 << 20))
    (src / "empty").write_bytes(b"")
    (src / "private.key").write_text("not really a key\n")
    (src / "private.key").chmod(0o600)
    (src / "script.sh").write_text("#!/bin/sh\necho hi\n")
    (src / "script.sh").chmod(0o750)
    (src / "link").symlink_to("sub/f1.txt")
    (src / "dangling").symlink_to("nowhere")
    (src / "naïve name.txt").write_text("unicode\n")
    return src


def _config(tmp: Path, images: dict[str, str] | None = None) -> tuple[Path, Path]:
    src = _source(tmp)
    job: dict[str, object] = {
        "source": {"kind": "files", "paths": [str(src)]},
        "checks": [{"path_exists": "data/sub/deeper/big.bin"}],
    }
    if images:
        job["drill"] = {"images": images}
    cfg = write_config(tmp / "drkit.yaml", init_repo(tmp / "repo"), {"uploads": job})
    ok(cfg, "job", "run", "uploads")
    return cfg, src


def _events(engine: DockerEngine, since: float) -> int:
    client = engine.client()
    try:
        return sum(
            1
            for _ in client.events(
                since=int(since),
                until=int(time.time()) + 1,
                decode=True,
                filters={"type": "container", "event": "create", "label": "drkit.sandbox=files"},
            )
        )
    finally:
        client.close()


def _left(engine: DockerEngine) -> list[str]:
    client = engine.client()
    try:
        return [c.id for c in client.containers.list(all=True, filters={"label": "drkit.sandbox"})]
    finally:
        client.close()


def test_files_drill_in_a_container_with_junit(tmp_path: Path, docker_engine: DockerEngine, files_image: str) -> None:
    cfg, _ = _config(tmp_path)
    t0 = time.time()
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    proc = drkit(
        "--config",
        str(cfg),
        "drill",
        "uploads",
        "--sandbox",
        "docker",
        "--json",
        str(report),
        "--junit",
        str(junit),
        env={**ENV, **docker_engine.env},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr.decode() + report.read_text()
    (r,) = json.loads(report.read_text())["drills"]
    assert r["sandbox"] == "docker"
    checks = {c["name"]: c for c in r["checks"]}
    assert {"files.content", "files.metadata", "files.container", "user.path[0]"} <= set(checks)
    assert all(c["ok"] for c in checks.values()), checks
    assert "as the container sees them" in checks["files.container"]["detail"]
    cases = {c.get("name"): c for c in ET.fromstring(junit.read_text()).iter("testcase")}
    assert any("files.container" in (n or "") for n in cases), list(cases)
    assert _events(docker_engine, t0) == 1 and _left(docker_engine) == []  # labelled drkit.sandbox=files


def test_files_drill_without_the_image_is_one_line_and_exit_2(tmp_path: Path, docker_engine: DockerEngine) -> None:
    cfg, _ = _config(tmp_path, {"files": "drkit-test/absent:1"})
    proc = drkit(
        "--config", str(cfg), "drill", "uploads", "--sandbox", "docker", env={**ENV, **docker_engine.env}, timeout=600
    )
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("drkit: error:")]
    assert len(lines) == 1 and "drkit-test/absent:1" in lines[0], err
    assert _left(docker_engine) == []


def test_files_auto_stays_local(tmp_path: Path, docker_engine: DockerEngine) -> None:
    """auto never sends a files drill to a container (no image pull the operator did not ask for)."""
    cfg, _ = _config(tmp_path)
    report = tmp_path / "r.json"
    proc = drkit(
        "--config",
        str(cfg),
        "drill",
        "uploads",
        "--sandbox",
        "auto",
        "--json",
        str(report),
        env={**ENV, **docker_engine.env},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    (r,) = json.loads(report.read_text())["drills"]
    assert r["sandbox"] == "local" and "files.container" not in {c["name"] for c in r["checks"]}


@pytest.fixture
def restored(
    tmp_path: Path, docker_engine: DockerEngine, files_image: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[object, str, Path, dict[str, str]]]:
    """A snapshot restored by `drkit restore files` (rsync: identical to the source), the repository open
    in this process, and the SHA-256 of every file as the host's content check computed them."""
    cfg, src = _config(tmp_path)
    target = tmp_path / "restored"
    ok(cfg, "restore", "files", "latest", "--repo", str(tmp_path / "repo"), "--target", str(target))
    same_tree(src, target / "data")
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    config = load_config(cfg)
    monkeypatch.setenv("DRILL_TEST_PASSPHRASE", ENV["DRILL_TEST_PASSPHRASE"])
    repo, _ = open_job_repository(config, config.job("uploads"))
    try:
        tree = find_files_snapshot(repo, "latest", None, source_name="uploads").root["tree"]
        digests: dict[str, str] = {}
        assert all(c.ok for c in verify_files(repo, tree, target, digests))
        yield repo, tree, target, digests
    finally:
        repo.close()
    assert _left(docker_engine) == []


def _problems(restored: tuple[object, str, Path, dict[str, str]], tmp: Path) -> list[str]:
    repo, tree, target, digests = restored
    listing = container_listing(target, tmp / f"out-{time.monotonic_ns()}", DEFAULT_IMAGE)
    return compare_listing(repo, tree, listing, digests)  # type: ignore[arg-type]


def test_container_view_matches_then_each_wrong_restore_fails(
    tmp_path: Path, restored: tuple[object, str, Path, dict[str, str]]
) -> None:
    _, _, target, digests = restored
    assert "data/sub/deeper/big.bin" in digests and len(digests) >= 34
    assert _problems(restored, tmp_path) == []

    big = target / "data" / "sub" / "deeper" / "big.bin"
    st = big.stat()
    with open(big, "r+b") as f:  # one byte changed, size and mtime kept: only the content tells
        f.seek(1 << 20)
        byte = f.read(1)
        f.seek(1 << 20)
        f.write(bytes([byte[0] ^ 1]))
    os.utime(big, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _problems(restored, tmp_path) == ["data/sub/deeper/big.bin: content differs"]
    with open(big, "r+b") as f:
        f.seek(1 << 20)
        f.write(byte)
    os.utime(big, ns=(st.st_atime_ns, st.st_mtime_ns))

    (target / "data" / "private.key").chmod(0o644)
    assert _problems(restored, tmp_path) == ["data/private.key: mode 0o644 != 0o600"]
    (target / "data" / "private.key").chmod(0o600)

    (target / "data" / "sub" / "intruder").write_text("x")
    (target / "data" / "empty").unlink()
    assert sorted(_problems(restored, tmp_path)) == [
        "data/empty missing in the container",
        "data/sub/intruder: in the container, not in the snapshot",
    ]
