"""A files job of `/` alone (a whole system) restores as TARGET/etc (docs/files.md): its drill must find the
canary where the restore put it, TARGET/.drkit-canary-JOB (it was written into `/`), not under TARGET/root,
which is now root's home directory. The backup selects one small tree of / by excludes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from drillkit import drill, init_repo, ok, write_config

pytestmark = pytest.mark.e2e

JOB = "wholesys-drill-test"


def _only(src: Path) -> list[str]:
    """Excludes that leave, of /, only the directories down to ``src`` (and the canary, written later)."""
    excludes, here = [], Path("/")
    for part in src.parts[1:]:
        excludes += [str(here / name) for name in sorted(os.listdir(here)) if name != part]
        here = here / part
    return excludes


@pytest.mark.skipif(os.geteuid() != 0, reason="the canary of a job of / is written into /")
def test_drill_of_a_job_of_root_finds_its_canary(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "etc").mkdir(parents=True)
    (src / "etc" / "hostname").write_text("db1\n")
    job = {
        "source": {"kind": "files", "paths": ["/"], "exclude": _only(src)},
        "canary": {"enabled": True},
        "checks": [{"path_exists": f"{src.relative_to('/')}/etc/hostname"}],
    }
    cfg = write_config(tmp_path / "drkit.yaml", init_repo(tmp_path / "repo"), {JOB: job})
    try:
        ok(cfg, "job", "run", JOB)
        code, report, _, _ = drill(cfg, tmp_path, JOB)
    finally:
        Path(f"/.drkit-canary-{JOB}").unlink(missing_ok=True)
    (result,) = report["drills"]
    failed = [c for c in result["checks"] if not c["ok"]]
    assert code == 0 and result["success"], failed
    assert "canary" in {c["name"] for c in result["checks"]}
