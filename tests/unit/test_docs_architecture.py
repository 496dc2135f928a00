"""ARCHITECTURE.md's layer map cannot drift from the one tests/unit/test_architecture.py enforces, and
the newcomer docs (ARCHITECTURE.md, CONTRIBUTING.md) link only to files in the repository.

The layer maps are both parsed: the ``ALLOWED`` literal of the architecture test (with ``ast``, not imported, so this
reads the source a reviewer reads) and the layer table of ARCHITECTURE.md. The table lists what each
layer may import besides itself; the test's table includes the layer itself."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARCH_TEST = ROOT / "tests" / "unit" / "test_architecture.py"
ARCH_DOC = ROOT / "ARCHITECTURE.md"
UNCHECKED = "anything (not checked); nothing may import it"
NOTHING = ("nothing", "nothing of drkit")


def _enforced() -> dict[str, set[str]]:
    for node in ast.parse(ARCH_TEST.read_text()).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "ALLOWED":
            assert node.value is not None
            table = ast.literal_eval(node.value)
            assert isinstance(table, dict)
            return table
    raise AssertionError(f"no ALLOWED table in {ARCH_TEST.name}")


def _documented() -> dict[str, str]:
    """Rows of the doc's table: first cell a `layer`, second cell as written."""
    rows: dict[str, str] = {}
    for line in ARCH_DOC.read_text().splitlines():
        match = re.fullmatch(r"\| `([a-z_.]+)` \| (.+) \|", line.strip())
        if match:
            assert match.group(1) not in rows, f"layer {match.group(1)} listed twice"
            rows[match.group(1)] = match.group(2).strip()
    return rows


def _names(cell: str) -> set[str]:
    if cell in NOTHING:
        return set()
    names = re.findall(r"`([a-z_.]+)`", cell)
    assert ", ".join(f"`{n}`" for n in names) == cell, f"cell is not a list of `layer`s: {cell!r}"
    return set(names)


def test_doc_lists_exactly_the_enforced_layers() -> None:
    documented = _documented()
    assert documented.pop("drkit.cli", None) == UNCHECKED, "the drkit.cli row must say it is unchecked"
    assert set(documented) == set(_enforced())


def test_doc_gives_each_layer_exactly_its_allowed_imports() -> None:
    documented = _documented()
    for layer, allowed in _enforced().items():
        assert layer in allowed, f"{layer} may not import itself: the doc's 'besides itself' is wrong"
        assert _names(documented[layer]) == allowed - {layer}, f"ARCHITECTURE.md row for {layer}"


def test_every_package_has_a_row() -> None:
    """A package missing from ALLOWED is not checked at all: the doc (and so the test) must name it."""
    packages = {f"drkit.{p.name}" for p in (ROOT / "drkit").iterdir() if p.is_dir() and any(p.rglob("*.py"))}
    assert packages <= set(_documented()), f"packages without a row: {sorted(packages - set(_documented()))}"


def test_doc_states_the_enforced_module_size_limit() -> None:
    limit = re.search(r"lines <= (\d+)", ARCH_TEST.read_text())
    assert limit is not None, "test_architecture.py no longer states its line limit as `lines <= N`"
    assert f"No module may exceed {limit.group(1)} lines" in ARCH_DOC.read_text()


def test_newcomer_docs_link_only_to_files_in_the_repository() -> None:
    for doc in (ARCH_DOC, ROOT / "CONTRIBUTING.md"):
        for target in re.findall(r"\]\(([^)]+)\)", doc.read_text()):
            assert "://" not in target and not target.startswith(("/", "mailto:")), f"{doc.name}: {target}"
            assert (ROOT / target.split("#")[0]).exists(), f"{doc.name} links to a missing file: {target}"
