"""Bit flips (issue 10): one flipped bit in a pack, index, snapshot, key object or the config of a local
repository is found by `drkit check --read-data`, and a restore that needs the damaged bytes is refused
(exit 13, nothing written under the target name); no restore ever writes wrong bytes. The engine is
bitflips.py, shared with bench/faults.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bitflips import KINDS, BitFlips, FlipReport
from faultkit import Target
from zygote import ForkServer

pytestmark = pytest.mark.fault


def _flips(tmp_path: Path, fork_server: ForkServer, trials: int, seed: int) -> FlipReport:
    flips = BitFlips(tmp_path, fork_server, seed=seed)
    flips.prepare()
    report = flips.run(trials)
    print(report.summary())
    assert report.ok, "\n".join(report.unexpected)
    for kind in KINDS:
        stats = report.kinds[kind]
        assert stats.detected + stats.harmless == stats.trials, (kind, report.table())
        assert stats.refused == stats.affected, (kind, report.table())
        assert stats.identical == stats.unaffected, (kind, report.table())
        if kind != "keys":
            assert stats.detected == stats.trials and set(stats.check_codes) == {13}, (kind, report.table())
    return report


def test_bit_flips_are_detected_and_refused(tmp_path: Path, fork_server: ForkServer) -> None:
    report = _flips(tmp_path, fork_server, trials=2 * len(KINDS), seed=1)
    assert report.trials == 2 * len(KINDS)


@pytest.mark.slow
def test_100_bit_flips(tmp_path: Path, fork_server: ForkServer) -> None:
    report = _flips(tmp_path, fork_server, trials=100, seed=100)
    assert sum(k.affected for k in report.kinds.values()) > 50


def test_key_object_with_impossible_kdf_parameters_is_an_integrity_error(local_repo: Target) -> None:
    """A flipped bit can turn `"p": 2` into `"p": 0`: argon2 refuses it; drkit says the key object is
    malformed (exit 13) instead of crashing with an internal error."""
    assert local_repo.run("init").returncode == 0
    key = next((Path(local_repo.url) / "keys").iterdir())
    doc = json.loads(key.read_bytes())
    doc["kdf_params"]["p"] = 0
    key.write_text(json.dumps(doc))
    proc = local_repo.run("snapshots")
    assert proc.returncode == 13, proc.stderr
    err = proc.stderr.decode()
    assert "Traceback" not in err and "internal error" not in err
    assert err.startswith("drkit: error: ") and "key object is malformed" in err
