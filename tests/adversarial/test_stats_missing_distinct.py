"""`drkit stats --mode raw-data` counted each *reference* to a blob missing from the index as one missing
blob: a stream of zeros references one blob many times, and one damaged blob was reported as dozens.
Missing blobs are now counted once each, like every other count of the raw-data mode. The blob is
made missing the way it happens: a flipped byte, and `repair index --read-data` leaving it out."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from advkit import ENV, backup, init, run

from drkit.ops.session import open_repository
from drkit.repository.references import referenced_blobs
from drkit.repository.snapshots import find


def test_stats_counts_a_missing_blob_once_however_often_it_is_referenced(tmp_path: Path) -> None:
    repo = init(tmp_path / "repo")
    snap_id = backup(repo, bytes(40 << 20))  # zeros: cut at the 4 MiB maximum, one blob repeated
    opened = open_repository(str(repo), ENV["DRKIT_PASSWORD"])
    try:
        refs = Counter(referenced_blobs(opened, find(opened.manifests, snap_id)))
        (zero, times), *_ = refs.most_common()
        assert times > 3
        loc = opened.index.get(zero)
        assert loc is not None
    finally:
        opened.close()
    (pack,) = [p for p in (repo / "data").rglob(loc.pack_id) if p.is_file()]
    with open(pack, "r+b") as f:  # a flipped byte inside the repeated blob
        f.seek(loc.offset + loc.length // 2)
        byte = f.read(1)
        f.seek(loc.offset + loc.length // 2)
        f.write(bytes([byte[0] ^ 0x01]))
    assert run(repo, "repair", "index", "--read-data").returncode == 13

    proc = run(repo, "stats", "--mode", "raw-data", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["total"]["missing_blobs"] == 1, doc  # before: one per reference
    (one,) = doc["snapshots"]
    assert one["missing_blobs"] == 1
    text = run(repo, "stats", "--mode", "raw-data")
    assert b"warning: 1 referenced blobs are in no index object" in text.stderr, text.stderr
