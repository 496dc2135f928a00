"""Files drills end to end: backup by job, drill passes with phases and both RPOs; a flipped byte
in a pack fails the drill naming the check in all three reports; an impossible RTO target fails
with exit 20 and exactly the target:rto testcase failed."""

from __future__ import annotations

import os
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from drillkit import drill, init_repo, ok, write_config
from promtext import require_metric

pytestmark = pytest.mark.e2e


def _source(tmp: Path) -> Path:
    src = tmp / "data"
    (src / "sub").mkdir(parents=True)
    for i in range(20):
        (src / "sub" / f"f{i}.txt").write_text(f"file {i}\n" * (i * 100 + 1))
    (src / "big.bin").write_bytes(os.urandom(3 << 20))
    (src / "README").write_text("hello\n")
    return src


def _setup(tmp: Path, targets: dict[str, str] | None = None, canary: bool = True) -> tuple[Path, Path]:
    repo = init_repo(tmp / "repo")
    src = _source(tmp)
    job: dict[str, object] = {
        "source": {"kind": "files", "paths": [str(src)]},
        "checks": [{"path_exists": "data/README"}],
    }
    if canary:  # files canaries are written only where the operator allows it
        job["canary"] = {"enabled": True}
    if targets:
        job["targets"] = targets
    cfg = write_config(tmp / "drkit.yaml", repo, {"uploads": job})
    return cfg, src


def _failed_cases(junit: str) -> list[str]:
    root = ET.fromstring(junit)
    return [
        c.get("name", "") for c in root.iter("testcase") if c.find("failure") is not None or c.find("error") is not None
    ]


def test_files_drill_passes_with_phases_and_rpos(tmp_path: Path) -> None:
    cfg, src = _setup(tmp_path)
    before = time.time()
    ok(cfg, "job", "run", "uploads")
    canary_age_floor = time.time() - before  # the canary was written after `before`
    code, report, junit, prom = drill(cfg, tmp_path, "uploads")
    assert code == 0, report
    (result,) = report["drills"]
    assert result["success"] and report["success"]
    assert list(result["phases"]) == ["open", "restore", "verify"]
    assert abs(result["rto_seconds"] - sum(result["phases"].values())) <= 0.003  # back to back: they are the RTO
    names = {c["name"] for c in result["checks"]}
    assert {"files.content", "files.metadata", "user.path[0]", "canary"} <= names
    assert result["rto_seconds"] > 0
    assert result["rpo_verified_seconds"] >= result["rpo_catalog_seconds"] >= 0
    assert result["rpo_verified_seconds"] <= time.time() - before + 1
    assert canary_age_floor >= 0
    assert _failed_cases(junit) == []
    text = prom.decode()
    assert require_metric(text, "drkit_drill_success", drkit_job="uploads") == 1.0
    verified = require_metric(text, "drkit_rpo_seconds", drkit_job="uploads", kind="verified")
    assert verified == result["rpo_verified_seconds"]
    history = ok(cfg, "report", "--html", str(tmp_path / "r.html")).decode()
    assert "uploads: 1 drills, 1 passed" in history
    assert "<svg" in (tmp_path / "r.html").read_text()


def test_files_job_without_canary_writes_nothing_into_the_source_and_drills_green(tmp_path: Path) -> None:
    cfg, src = _setup(tmp_path, canary=False)
    before = sorted(p.name for p in src.iterdir())
    ok(cfg, "job", "run", "uploads")
    assert sorted(p.name for p in src.iterdir()) == before  # nothing written into the production tree
    code, report, junit, _ = drill(cfg, tmp_path, "uploads")
    (result,) = report["drills"]
    assert code == 0, report
    assert "canary" not in {c["name"] for c in result["checks"]}
    assert result["rpo_verified_seconds"] is None
    assert result["rpo_basis"].startswith("catalog") and "canary.enabled" in result["rpo_basis"]
    assert {t["name"]: t["actual_seconds"] for t in result["targets"]}["rpo"] == result["rpo_catalog_seconds"]
    assert _failed_cases(junit) == []


def test_flipped_byte_in_pack_fails_drill_naming_the_check(tmp_path: Path) -> None:
    cfg, _ = _setup(tmp_path)
    ok(cfg, "job", "run", "uploads")
    packs = sorted((tmp_path / "repo" / "data").rglob("*"), key=lambda p: p.stat().st_size if p.is_file() else 0)
    biggest = packs[-1]
    data = bytearray(biggest.read_bytes())
    data[len(data) // 2] ^= 0x01
    biggest.write_bytes(bytes(data))
    code, report, junit, prom = drill(cfg, tmp_path, "uploads")
    assert code == 21
    (result,) = report["drills"]
    failed = [c["name"] for c in result["checks"] if not c["ok"]]
    assert failed == ["restore"], result["checks"]
    assert "check:restore" in _failed_cases(junit)
    text = prom.decode()
    assert require_metric(text, "drkit_drill_success", drkit_job="uploads") == 0.0
    assert require_metric(text, "drkit_drill_check_success", drkit_job="uploads", check="restore") == 0.0


def test_impossible_rto_target_fails_with_exit_20(tmp_path: Path) -> None:
    cfg, _ = _setup(tmp_path, targets={"rto": "1ms", "rpo": "1h"})
    ok(cfg, "job", "run", "uploads")
    code, report, junit, _ = drill(cfg, tmp_path, "uploads")
    assert code == 20, report
    assert _failed_cases(junit) == ["target:rto"]
    (result,) = report["drills"]
    assert all(c["ok"] for c in result["checks"])


def test_make_drill_demo_runs_a_full_drill_on_the_embedded_defaults(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "DRKIT": str(Path(sys.executable).parent / "drkit"),
    }
    proc = subprocess.run(
        [str(root / "scripts" / "drill-demo.sh")], capture_output=True, env=env, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"drill passed" in proc.stdout
    demo = tmp_path / "data" / "drkit" / "demo"
    assert '"success": true' in (demo / "drill.json").read_text()
    assert (demo / "drill-report.html").read_text().count("<svg") >= 1


def test_drill_fails_when_the_newest_snapshot_is_damaged(tmp_path: Path) -> None:
    """A drill of an older snapshot in place of a damaged newest one would prove nothing: it fails
    (exit 13 in the report), naming the damaged snapshot, instead of passing on the older one."""
    cfg, src = _setup(tmp_path, canary=False)
    ok(cfg, "job", "run", "uploads")
    ok(cfg, "job", "run", "uploads")
    repo = tmp_path / "repo"
    newest = max((repo / "snapshots").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    newest.write_bytes(b"damaged in the bucket")
    code, report, _junit, _prom = drill(cfg, tmp_path, "uploads")
    (result,) = report["drills"]
    assert code != 0 and not result["success"], report
    assert newest.name[:16] in str(result), result
