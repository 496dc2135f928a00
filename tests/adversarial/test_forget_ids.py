"""`drkit forget ID…` (issues 20 and 26): there was no way to remove one named snapshot, so a damaged
snapshot (junk under snapshots/) stopped prune for good. Named snapshots are removed by unique id
prefix, damaged ones included; bad references are refused (exit 2) before anything is removed; the
snapshots left restore byte-identical (their source bytes are the oracle)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from advkit import assert_restores, backup, init, run


def _ids(repo: Path) -> list[str]:
    return sorted(p.name for p in (repo / "snapshots").iterdir() if not p.name.startswith("."))


def _three(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    repo = init(tmp_path / "repo")
    data = [os.urandom(200_000) for _ in range(3)]
    return repo, {backup(repo, d, f"s{i}"): d for i, d in enumerate(data)}


def _error(proc: object) -> str:
    err = proc.stderr.decode()  # type: ignore[attr-defined]
    assert "Traceback" not in err, err
    [line] = [ln for ln in err.splitlines() if ln.startswith("drkit: error: ")]
    return line


def test_forget_by_prefix_dry_run_then_apply(tmp_path: Path) -> None:
    repo, sources = _three(tmp_path)
    first, second, third = sources
    dry = run(repo, "forget", first[:8], second, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    doc = json.loads(dry.stdout)
    assert [s["id"] for s in doc["snapshots"]] == [first, second] and all(s["removed"] for s in doc["snapshots"])
    assert _ids(repo) == sorted(sources)
    proc = run(repo, "forget", first[:8], second[:6], first[:10])  # one named twice: removed once
    assert proc.returncode == 0, proc.stderr
    assert b"2 snapshots removed" in proc.stdout, proc.stdout
    assert _ids(repo) == [third]
    assert run(repo, "prune", "--grace", "0").returncode == 0
    assert_restores(repo, third, sources[third])
    assert run(repo, "check", "--read-data").returncode == 0


def test_bad_references_remove_nothing(tmp_path: Path) -> None:
    repo, sources = _three(tmp_path)
    first = next(iter(sources))
    twin = first[:6] + "0" * 58 if first[6] != "0" else first[:6] + "1" * 58
    (repo / "snapshots" / twin).write_bytes(b"junk that shares a prefix")
    cases = {
        (first[:6],): "ambiguous: 2 candidates",
        (first, "ffff" if not first.startswith("ffff") else "eeee"): "no snapshot with id",
        ("latest",): "not a snapshot id",
        (first[:3],): "not a snapshot id",
        (first, "--keep-last", "1"): "not both",
        (first, "--source", "stdin"): "not both",
    }
    for args, expected in cases.items():
        proc = run(repo, "forget", *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert expected in _error(proc), (args, proc.stderr)
    ambiguous = _error(run(repo, "forget", first[:6]))
    assert first[:12] in ambiguous and f"{twin[:12]} (damaged)" in ambiguous
    assert _ids(repo) == sorted([*sources, twin])


def test_forget_a_damaged_snapshot_lets_prune_run_again(tmp_path: Path) -> None:
    repo, sources = _three(tmp_path)
    first, second, _third = sources
    (repo / "snapshots" / second).write_bytes(b"damaged in the bucket")
    stuck = json.loads(run(repo, "prune", "--grace", "0", "--json").stdout)
    assert "unreadable" in " ".join(stuck["waiting"]) and not stuck["deleted_packs"]  # prune frees nothing
    proc = run(repo, "forget", first[:8], second[:8])  # a damaged one beside an intact one
    assert proc.returncode == 0, proc.stderr
    assert b"damaged (unreadable)" in proc.stdout
    assert second not in _ids(repo) and first not in _ids(repo)
    pruned = run(repo, "prune", "--grace", "0", "--json")
    assert pruned.returncode == 0, pruned.stderr
    freed = json.loads(pruned.stdout)
    assert not freed["waiting"] and freed["deleted_packs"], freed
    assert run(repo, "check", "--read-data").returncode == 0
    for snap in _ids(repo):
        assert_restores(repo, snap, sources[snap])
