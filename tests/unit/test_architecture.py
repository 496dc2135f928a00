"""The layering of STYLE.md §5, enforced: a package imports only the layers below it, nothing
imports the CLI, and no module grows past 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# layer → the drkit layers (and storage_backends) it may import
ALLOWED: dict[str, set[str]] = {
    "storage_backends": {"storage_backends"},
    "drkit.core": {"drkit.core"},
    "drkit.pipeline": {"drkit.core", "drkit.pipeline"},
    "drkit.repository": {"drkit.core", "drkit.pipeline", "drkit.repository", "storage_backends"},
    "drkit.sources": {"drkit.core", "drkit.pipeline", "drkit.repository", "drkit.sources", "storage_backends"},
    "drkit.ops": {"drkit.core", "drkit.pipeline", "drkit.repository", "drkit.sources", "drkit.ops", "storage_backends"},
    "drkit.retention": {
        "drkit.core",
        "drkit.pipeline",
        "drkit.repository",
        "drkit.sources",
        "drkit.retention",
        "storage_backends",
    },
    "drkit.config": {"drkit.core", "drkit.sources", "drkit.ops", "drkit.config"},  # sources: plugin config models
    "drkit.jobs": {
        "drkit.core",
        "drkit.pipeline",
        "drkit.repository",
        "drkit.sources",
        "drkit.ops",
        "drkit.retention",
        "drkit.config",
        "drkit.jobs",
        "storage_backends",
    },
    "drkit.drills": {
        "drkit.core",
        "drkit.pipeline",
        "drkit.repository",
        "drkit.sources",
        "drkit.ops",
        "drkit.retention",
        "drkit.config",
        "drkit.jobs",
        "drkit.drills",
        "storage_backends",
    },
    "drkit.scheduler": {
        "drkit.core",
        "drkit.pipeline",
        "drkit.repository",
        "drkit.sources",
        "drkit.ops",
        "drkit.retention",
        "drkit.config",
        "drkit.jobs",
        "drkit.drills",
        "drkit.scheduler",
        "storage_backends",
    },
}

# A source package's slices of the upper layers: ``drkit.sources.KIND.SLICE[_…][.…]`` belongs to the layer
# SLICES[SLICE], so each kind keeps its use cases, job adapter, drill and commands in its own package
# while every import still points down the stack (``cmd``: the CLI, which nothing may import).
SLICES: dict[str, str] = {
    "config": "drkit.config",  # the kind's `source:` model
    "ops": "drkit.ops",
    "plugin": "drkit.jobs",
    "drills": "drkit.drills",
    "cmd": "drkit.cli",
}


def _modules() -> list[Path]:
    return sorted(p for pkg in ("drkit", "storage_backends") for p in (ROOT / pkg).rglob("*.py"))


def _dotted(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    module = _dotted(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                found.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.add(node.module)
    return {name for name in found if name.split(".")[0] in ("drkit", "storage_backends")}


def _layer(name: str) -> str | None:
    if name.startswith("storage_backends"):
        return "storage_backends"
    parts = name.split(".")
    if parts[:2] == ["drkit", "sources"] and len(parts) > 3 and parts[3].split("_")[0] in SLICES:
        return SLICES[parts[3].split("_")[0]]
    return ".".join(parts[:2]) if len(parts) > 1 else None


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_respect_layers(path: Path) -> None:
    layer = _layer(_dotted(path))
    if layer in (None, "drkit.cli") or layer not in ALLOWED:
        return
    for name in _imports(path):
        target = _layer(name)
        assert target != "drkit.cli", f"{path.name} imports the CLI ({name})"
        if target is not None and name not in ("drkit",):
            assert target in ALLOWED[layer], f"{_dotted(path)} ({layer}) may not import {name}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_size(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= 400, f"{path.relative_to(ROOT)} has {lines} lines (limit 400): split it"


# The source kinds with a package of their own (files is the repository's tree format too: the generic tree
# verbs, dump/find/mount/ls, read it); the layers below reach each only through the registry.
KINDS = ("postgres", "redis", "mysql")
KIND_FREE = ("drkit.cli", "drkit.config", "drkit.scheduler", "drkit.core")


def _kind_names_in(path: Path) -> list[str]:
    """Where ``path`` imports a kind's package or names a kind (a string equal to its name, or naming a module
    of its package: a lazy import table)."""
    tree = ast.parse(path.read_text())
    module = _dotted(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = [
        f"imports {name}" for name in _imports(path) if name.split(".")[:3] in (["drkit", "sources", k] for k in KINDS)
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            if [*base, *(node.module or "").split(".")][:2] == ["drkit", "sources"]:
                found += [f"imports {a.name}" for a in node.names if a.name in KINDS]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in KINDS or any(
                f"sources.{k}." in node.value.split()[0] for k in KINDS if node.value.strip()
            ):  # or a module to import
                found.append(f"line {node.lineno}: {node.value!r}")
    return found


@pytest.mark.parametrize(
    "path",
    [p for p in _modules() if _dotted(p).startswith(tuple(f"{layer}." for layer in KIND_FREE))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_no_kind_is_named_in_cli_config_scheduler_core(path: Path) -> None:
    """The CLI, the config, the scheduler and core dispatch through the registry (drkit/sources/registry.py,
    the drkit.sources and drkit.commands entry points): adding a kind touches none of them (issue 23)."""
    assert not _kind_names_in(path), f"{path.relative_to(ROOT)} names a source kind: {_kind_names_in(path)}"
