"""A source kind registered only through its entry point (not one of entrypoints.BUILT_IN: today mysql)
lives entirely in its package drkit/sources/KIND/: no module outside it imports it or names the kind in
code (identifiers, strings; comments and docstrings may mention it), and pyproject.toml names it only
in its ``drkit.sources`` entry point. So drkit works without it: with the kind's entry point absent and
its package unimportable, ``drkit --help``, ``drkit config validate`` and a files job run still work,
and a job of the kind is one clear configuration error.

postgres, redis and files are not checked here yet: the layers above still name them (the #23
chains helpers are moving them into their packages); add a kind to the check by dropping it from
BUILT_IN once it is isolated."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import distribution
from pathlib import Path

import pytest
import yaml

from drkit.sources.entrypoints import BUILT_IN

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "drkit" / "sources"
PLUGIN_KINDS = sorted(d.name for d in SOURCES.iterdir() if (d / "plugin.py").is_file() and d.name not in BUILT_IN)


def test_the_check_is_not_vacuous() -> None:
    assert "mysql" in PLUGIN_KINDS


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imported(path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules an import statement names, relative ones resolved against ``path``'s package."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    package = _module(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = ".".join(package[: len(package) - node.level + 1] if node.level else [])
    module = ".".join(p for p in (base, node.module or "") if p)
    return [module, *(f"{module}.{alias.name}" for alias in node.names)]


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the docstring constants of the module, its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _mentions(path: Path, kind: str, code: str | None = None) -> list[str]:
    """Where module ``path`` (or ``code`` standing for it) imports drkit.sources.KIND or names the kind
    in code: ``line: what``."""
    tree = ast.parse(path.read_text() if code is None else code, str(path))
    docs, package, word = _docstrings(tree), f"drkit.sources.{kind}", kind.lower()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            found += [f"{node.lineno}: imports {m}" for m in _imported(path, node) if m.startswith(package)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            found += [f"{node.lineno}: string {node.value!r}"] if word in node.value.lower() else []
        else:
            names = [getattr(node, f, None) for f in ("id", "attr", "name", "arg")]  # Name, Attribute, def, arg
            found += [f"{node.lineno}: name {n}" for n in names if isinstance(n, str) and word in n.lower()]
    return found


@pytest.mark.parametrize("kind", PLUGIN_KINDS)
def test_no_module_outside_the_kinds_package_names_it(kind: str) -> None:
    inside = SOURCES / kind
    offenders = {
        str(path.relative_to(ROOT)): where
        for pkg in ("drkit", "storage_backends")
        for path in sorted((ROOT / pkg).rglob("*.py"))
        if not path.is_relative_to(inside) and (where := _mentions(path, kind))
    }
    assert offenders == {}


def test_drkit_knows_nothing_of_the_out_of_tree_test_plugin() -> None:
    """tests/plugins/sqlite (the kind test_plugin_source.py drives) is found through its entry point only:
    neither drkit's code nor pyproject.toml names its package, its place or its kind (the string 'sqlite')."""
    texts = {p: p.read_text() for pkg in ("drkit", "storage_backends") for p in (ROOT / pkg).rglob("*.py")}
    texts[ROOT / "pyproject.toml"] = (ROOT / "pyproject.toml").read_text()
    naming = re.compile(r"drkit_sqlite|tests/plugins|[\"']sqlite[\"']", re.IGNORECASE)
    assert [str(p.relative_to(ROOT)) for p, text in texts.items() if naming.search(text)] == []


def test_the_checker_sees_imports_names_and_strings_but_not_docstrings() -> None:
    """The checker itself: each way of naming a kind is found; a docstring or comment is not."""
    fake = ROOT / "drkit" / "jobs" / "isolation_probe.py"  # only parsed, never written: a path for _module
    samples = {
        "from ..sources.mysql import plugin": "imports drkit.sources.mysql",
        "import drkit.sources.mysql.cli": "imports drkit.sources.mysql.cli",
        "from ..sources import mysql": "imports drkit.sources.mysql",
        "kind = 'mysql'": "string 'mysql'",
        "MYSQL_PORT = 3306": "name MYSQL_PORT",
        "def connect(mysql_url): return mysql_url": "name mysql_url",
        "connect(url, mysql_socket=None)": "name mysql_socket",
        "class MySqlKind: pass": "name MySqlKind",
        "def f():\n    '''A mysql docstring.'''\n    return 1  # mysql": None,
    }
    for code, expected in samples.items():
        found = [w.split(": ", 1)[1] for w in _mentions(fake, "mysql", code)]
        assert (expected in found) if expected else found == [], (code, found)


def test_pyproject_names_the_kinds_only_in_their_entry_points() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    declared = tomllib.loads(text)["project"]["entry-points"]["drkit.sources"]
    for kind in PLUGIN_KINDS:
        assert declared[kind] == f"drkit.sources.{kind}.plugin:{kind.upper()}"
        lines = [ln for ln in text.splitlines() if kind in ln.lower() and not ln.lstrip().startswith("#")]
        assert lines == [f'{kind} = "{declared[kind]}"'], lines


@pytest.fixture
def without_mysql(tmp_path: Path) -> dict[str, str]:
    """A Python environment where drkit is installed without the mysql kind: a copy of drkit's installed
    metadata lacking the mysql entry point, ahead of the real one on PYTHONPATH (importlib.metadata takes
    the first distribution of a name), and a sitecustomize that makes ``drkit.sources.mysql``
    unimportable (``sys.modules[name] = None``), as if the package were not shipped."""
    site = tmp_path / "site"
    real = distribution("drkit")
    info = Path(real._path).resolve()  # type: ignore[attr-defined]  # its dist-info (or egg-info) directory
    shutil.copytree(info, site / info.name)
    entry_points = site / info.name / "entry_points.txt"
    lines = entry_points.read_text().splitlines()
    entry_points.write_text("\n".join(ln for ln in lines if not ln.startswith("mysql ")) + "\n")
    (site / "sitecustomize.py").write_text("import sys\n\nsys.modules['drkit.sources.mysql'] = None\n")
    return {**os.environ, "PYTHONPATH": str(site), "DRKIT_PASSWORD": "isolation-Test-Pass-77"}


def _drkit(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # cwd: not the checkout, whose drkit.egg-info (first on sys.path) would stand in for the installed metadata
    proc = subprocess.run(
        [sys.executable, "-m", "drkit.cli.main", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_drkit_works_without_the_mysql_kind(tmp_path: Path, without_mysql: dict[str, str]) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", "import drkit.sources.mysql"], cwd=tmp_path, env=without_mysql, capture_output=True
    )
    assert probe.returncode != 0  # the package really is out of reach
    helped = _drkit(without_mysql, tmp_path, "--help")
    assert helped.returncode == 0 and "mysql" not in helped.stdout
    listing = _drkit(without_mysql, tmp_path, "backup", "--help")
    assert listing.returncode == 0 and "files" in listing.stdout and "mysql" not in listing.stdout

    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_text("kept\n")
    repo = tmp_path / "repo"
    assert _drkit(without_mysql, tmp_path, "init", "--repo", str(repo)).returncode == 0
    config = tmp_path / "drkit.yaml"
    doc = {
        "repositories": {"default": {"url": str(repo), "passphrase": {"env": "DRKIT_PASSWORD"}}},
        "jobs": {"docs": {"source": {"kind": "files", "paths": [str(tree)]}}},
    }
    config.write_text(yaml.safe_dump(doc))
    assert _drkit(without_mysql, tmp_path, "--config", str(config), "config", "validate").returncode == 0
    run = _drkit(without_mysql, tmp_path, "--config", str(config), "job", "run", "docs")
    assert run.returncode == 0, run.stderr
    listed = _drkit(without_mysql, tmp_path, "snapshots", "--repo", str(repo), "--json")
    assert '"source_kind": "files"' in listed.stdout

    doc["jobs"]["shop"] = {"source": {"kind": "mysql", "url": "mysql://backup@db/shop"}}
    config.write_text(yaml.safe_dump(doc))
    refused = _drkit(without_mysql, tmp_path, "--config", str(config), "config", "validate")
    assert refused.returncode == 2
    assert "unknown source kind 'mysql' (registered: files, postgres, redis)" in refused.stderr + refused.stdout
