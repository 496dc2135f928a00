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
SLICES: dict[str, str] = {"ops": "drkit.ops", "plugin": "drkit.jobs", "drills": "drkit.drills", "cmd": "drkit.cli"}


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


# A constructor of more than this many fields is called by keyword only: a positional call would silently swap two
# fields of the same type (two counts, two paths) when one is added or reordered.
KW_ONLY_ABOVE = 4


def _dataclass_decorator(node: ast.ClassDef) -> ast.expr | None:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
        if name == "dataclass":
            return decorator
    return None


def _fields(node: ast.ClassDef) -> list[str]:
    """The annotated fields of the class body (ClassVar is not a field)."""
    return [
        stmt.target.id
        for stmt in node.body
        if isinstance(stmt, ast.AnnAssign)
        and isinstance(stmt.target, ast.Name)
        and "ClassVar" not in ast.unparse(stmt.annotation)
    ]


def _is_kw_only(decorator: ast.expr) -> bool:
    return isinstance(decorator, ast.Call) and any(
        kw.arg == "kw_only" and isinstance(kw.value, ast.Constant) and kw.value.value is True
        for kw in decorator.keywords
    )


def test_many_field_dataclasses_are_keyword_only() -> None:
    offenders = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            decorator = _dataclass_decorator(node)
            if decorator is not None and len(_fields(node)) > KW_ONLY_ABOVE and not _is_kw_only(decorator):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({len(_fields(node))} fields)")
    assert not offenders, "dataclasses of more than 4 fields need kw_only=True:\n" + "\n".join(offenders)
