"""Install the test source plugin (tests/plugins/sqlite) into a directory the way ``pip install
--target DIR`` lays out a distribution -- its package, plus ``drkit_sqlite-0.1.0.dist-info`` holding
``METADATA`` and ``entry_points.txt`` taken from its pyproject.toml -- so a ``drkit`` subprocess with that
directory on PYTHONPATH finds the kind through ``importlib.metadata`` entry points, as it finds any
installed plugin. (pip itself would need a wheel build: seconds, and the ``wheel`` package.)"""

from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path

PLUGIN = Path(__file__).resolve().parent / "plugins" / "sqlite"


def install(site: Path, *, entry_points: dict[str, str] | None = None) -> dict[str, str]:
    """Install the plugin into ``site``; ``entry_points`` replaces the ``drkit.sources`` group its
    pyproject.toml declares (a broken plugin's). Returns the environment a ``drkit`` run needs."""
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    group = project["entry-points"]["drkit.sources"] if entry_points is None else entry_points
    shutil.copytree(PLUGIN / "drkit_sqlite", site / "drkit_sqlite", ignore=shutil.ignore_patterns("__pycache__"))
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    info.joinpath("METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = [f"{name} = {value}" for name, value in group.items()]
    info.joinpath("entry_points.txt").write_text("[drkit.sources]\n" + "\n".join(lines) + "\n")
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path}
