"""bench/scale.py (issue 25, scale runs): a smoke run of the bench itself at tiny sizes, so it keeps
working, and the properties its generated stream is chosen for (deterministic, nothing to dedupe,
compressible like text)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from scale import PIECE, stream_blocks  # noqa: E402


def test_stream_is_deterministic_unique_and_compressible() -> None:
    first = list(stream_blocks(8, seed=3, pool_mib=2))
    assert first == list(stream_blocks(8, seed=3, pool_mib=2))
    assert first != list(stream_blocks(8, seed=4, pool_mib=2))
    pieces = [b[i : i + PIECE] for b in first for i in range(0, len(b), PIECE)]
    assert all(len(b) == 1 << 20 for b in first)
    assert len(set(pieces)) == len(pieces)  # every 64 KiB piece differs: no chunk can be deduplicated
    data = b"".join(first)
    assert 1.5 < len(data) / len(zlib.compress(data, 1)) < 10  # text-like, not trivial, not random


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed")
def test_scale_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "scale.py"),
            "--sizes",
            "tiny",
            "--workdir",
            str(tmp_path),
            "--json",
            str(out),
            "--drkit",
            str(Path(sys.executable).with_name("drkit")),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # 1: a goal missed (at tiny sizes, RSS)
    doc = json.loads(out.read_text())
    assert [int(s) for s in doc["stream"]] == [8 << 20, 16 << 20, 32 << 20]
    for size, tools in doc["stream"].items():
        assert {t: f["bytes_read"] for t, f in tools.items()} == {"drkit": int(size), "restic": int(size)}
    for count, tools in doc["files"].items():
        assert {t: f["files_read"] for t, f in tools.items()} == {"drkit": int(count), "restic": int(count)}
        assert all(f["maxrss_bytes"] > 0 and f["wall_s"] > 0 for f in tools.values())
    for blobs, fig in doc["index"].items():
        assert fig["live_blobs"] > int(blobs)  # the tiny blobs, plus list blobs and the small backup's
        assert fig["after_prune_live_blobs"] < fig["live_blobs"]  # prune removed the forgotten half
    assert any("files: drkit's peak RSS" in line for line in doc["verdicts"])
    assert list(tmp_path.glob("drkit-bench-scale-*")) == []  # repositories and tree removed
