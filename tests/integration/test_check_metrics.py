"""`drkit check --prom-file`: the metric the DrkitRepositoryCheckFailed alert reads, 1 when the
repository is sound and 0 (with exit 13) when a pack is damaged."""

from __future__ import annotations

from pathlib import Path

from clirun import drkit
from promtext import samples

ENV = {"DRKIT_PASSWORD": "check-metric-pass"}


def _value(path: Path) -> float:
    ((key, value),) = [(k, v) for k, v in samples(path.read_text()).items() if k[0] == "drkit_repository_check_success"]
    assert dict(key[1])["repository"].startswith("file://")
    return value


def test_check_writes_success_then_failure(tmp_path: Path) -> None:
    repo = str(tmp_path / "repo")
    assert drkit("init", "--repo", repo, env=ENV).returncode == 0
    assert drkit("backup", "stdin", "--repo", repo, "--name", "x", stdin=b"data " * 200_000, env=ENV).returncode == 0
    prom = tmp_path / "check.prom"
    ok = drkit("check", "--repo", repo, "--read-data", "--prom-file", str(prom), env=ENV)
    assert ok.returncode == 0, ok.stderr.decode()
    assert _value(prom) == 1.0
    pack = max((p for p in (tmp_path / "repo" / "data").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    raw = bytearray(pack.read_bytes())
    raw[100] ^= 0xFF
    pack.write_bytes(bytes(raw))
    bad = drkit("check", "--repo", repo, "--read-data", "--prom-file", str(prom), env=ENV)
    assert bad.returncode == 13
    assert _value(prom) == 0.0
