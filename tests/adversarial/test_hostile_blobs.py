"""With the key: a blob whose zstd frame inflates far beyond its recorded length is refused before its
output is allocated (exit 13), on restore and in `check --read-data`."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import zstandard
from hostile_kit import PASSWORD, ok, one_line, open_repo, plant_snapshot, run, run_measured

BOMB = 512 << 20


def _bomb_pack(path: Path) -> tuple[bytes, bytes, bytes]:
    """(blob id, pack id, pack): a blob claiming the 5 bytes b"small" whose frame inflates to 512 MiB."""
    from drkit.repository.format import AAD_PACK_HEADER, content_id
    from drkit.repository.pack import BLOB_DATA

    repo = open_repo(path)
    blob_id = repo.hasher.digest(b"small")
    compressor = zstandard.ZstdCompressor(level=3).compressobj(size=BOMB)
    zero = bytes(1 << 20)
    frame = b"".join(compressor.compress(zero) for _ in range(BOMB >> 20)) + compressor.flush()
    sealed = repo.cipher.seal(b"\x01" + frame, blob_id)
    header = repo.cipher.seal(struct.pack("<B32sQII", BLOB_DATA, blob_id, 0, len(sealed), 5), AAD_PACK_HEADER)
    pack = sealed + header + struct.pack("<I", len(header))
    return blob_id, bytes.fromhex(content_id(pack)), pack


def test_decompression_bounded_by_recorded_length(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    ok("init", "--repo", str(repo))
    blob_id, pack_id, pack = _bomb_pack(repo)
    tree = json.dumps(
        {"nodes": [{"name": "f", "type": "file", "mode": 384, "size": 5, "content": [blob_id.hex()]}]}
    ).encode()
    snap = plant_snapshot(repo, [tree], [(pack_id, pack)])
    proc, peak_kib = run_measured("restore", snap, "--target", str(tmp_path / "out"), "--repo", str(repo))
    assert "inflates" in one_line(proc, 13) or "declares" in one_line(proc, 13)
    assert peak_kib < 300 * 1024, f"peak RSS {peak_kib} KiB: the blob was inflated"
    assert not (tmp_path / "out" / "f").exists()
    proc, peak_kib = run_measured("check", "--read-data", "--repo", str(repo))
    assert proc.returncode == 13, proc.stderr
    assert peak_kib < 300 * 1024, f"peak RSS {peak_kib} KiB: check inflated the blob"
    assert PASSWORD not in proc.stdout + proc.stderr
    assert run("snapshots", "--repo", str(repo)).returncode == 0
