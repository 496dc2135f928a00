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


# The jobs, drills and retention-window layers dispatch through the source registry (issue 23): no import of a
# source kind's package, and no kind's name in code (``kind == "redis"``, ``in ("postgres", …)``,
# ``Literal["files", …]``, a table keyed by kind): what a kind does is asked of the registry's protocols.
KIND_FREE_JOBS = ("drkit/jobs", "drkit/drills", "drkit/retention/windows.py")
# a string that is a kind's name but means something else: (module, string)
NOT_A_KIND = {("drkit.drills.sandbox.workdir", "postgres")}  # the OS user a database sandbox runs as


def _kind_free_modules() -> list[Path]:
    return [p for p in _modules() if any(str(p.relative_to(ROOT)).startswith(top) for top in KIND_FREE_JOBS)]


def _kind_names() -> set[str]:
    from drkit.sources.entrypoints import kind_names

    return set(kind_names()) | {"files", "postgres", "redis", "mysql"}


def _kind_literals(tree: ast.AST, kinds: set[str]) -> list[str]:
    """The kind names written as strings in code (docstrings aside)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in kinds and id(node) not in docstrings
    ]


@pytest.mark.parametrize("path", _kind_free_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_jobs_and_drills_dispatch_through_the_registry(path: Path) -> None:
    kinds, module = _kind_names(), _dotted(path)
    packages = {f"drkit.sources.{kind}" for kind in kinds}
    for name in _imports(path):
        assert not any(name == p or name.startswith(p + ".") for p in packages), (
            f"{module} imports a source kind's package ({name}): ask the registry (drkit.sources.registry)"
        )
    named = {k for k in _kind_literals(ast.parse(path.read_text()), kinds) if (module, k) not in NOT_A_KIND}
    assert not named, f"{module} names source kinds {sorted(named)} in code: ask the registry"


def test_the_kind_rule_sees_kind_names() -> None:
    """The rule above finds what it forbids (so a passing run means something)."""
    code = (
        '"""Redis and postgres in a docstring are prose."""\n'
        'if kind == "redis" or source.kind in ("postgres", "x"):\n'
        '    k: Literal["files", "all"]\n'
        "match k:\n"
        '    case "mysql": pass\n'
    )
    assert sorted(_kind_literals(ast.parse(code), _kind_names())) == ["files", "mysql", "postgres", "redis"]
    assert _kind_literals(ast.parse('"""postgres"""\nuser = "postgresql"'), _kind_names()) == []


def test_test_modules_have_unique_names() -> None:
    """pytest imports test modules by their file name (no packages under tests/): two of one name stop
    the whole suite's collection (``make test``), though each runs alone."""
    seen: dict[str, list[str]] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        if ".venv" not in path.parts:
            seen.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert not {name: paths for name, paths in seen.items() if len(paths) > 1}
