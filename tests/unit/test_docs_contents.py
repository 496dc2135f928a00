"""The documents issue 23 asks for exist, are reachable from README.md, and keep up with what they describe:
CONTRIBUTING.md names every make target and every tool `make lint` runs, and bench/README.md's table lists every
bench script."""

from __future__ import annotations

import re
from pathlib import Path

from test_docs_links import LINK, _documents, _prose

ROOT = Path(__file__).resolve().parents[2]
CONTRIBUTING = ROOT / "CONTRIBUTING.md"


def _linked(doc: Path) -> set[Path]:
    targets = (m.group(1).split("#", 1)[0] for m in LINK.finditer(_prose(doc.read_text())))
    return {(doc.parent / t).resolve() for t in targets if t}


def test_every_document_is_reachable_from_the_readme() -> None:
    """A newcomer starts at README.md: every document is a link (or a chain of links) away from it."""
    seen: set[Path] = set()
    todo = [ROOT / "README.md"]
    while todo:
        doc = todo.pop()
        if doc in seen or doc.suffix != ".md" or not doc.is_file():
            continue
        seen.add(doc)
        todo.extend(_linked(doc))
    orphans = [str(p.relative_to(ROOT)) for p in _documents() if p.resolve() not in seen]
    assert not orphans, f"no link from README.md leads to {orphans}"


def test_the_documents_of_issue_23_exist() -> None:
    for name in ("ARCHITECTURE.md", "CONTRIBUTING.md", "bench/RESULTS.md", "docs/usage.md", "docs/drills.md",
                 "docs/deployment.md", "docs/backends.md", "docs/plugins.md", "docs/retention-and-replication.md",
                 "docs/performance.md"):  # fmt: skip
        assert (ROOT / name).is_file(), name


def _make_targets() -> dict[str, list[str]]:
    targets: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in (ROOT / "Makefile").read_text().splitlines():
        head = re.match(r"([a-z][a-z-]*):", line)
        if head:
            current = targets.setdefault(head.group(1), [])
        elif line.startswith("\t") and current is not None:
            current.append(line.strip())
    return targets


def test_contributing_says_how_to_run_test_lint_bench_and_extend() -> None:
    text = CONTRIBUTING.read_text()
    headings = set(re.findall(r"^## (.+)$", text, re.MULTILINE))
    assert {"Install", "Test", "Lint", "Benchmark", "Add a source"} <= headings, headings
    assert any(h.startswith("Add a storage backend") for h in headings), headings
    targets = _make_targets()
    missing = [t for t in targets if t not in ("clean",) and f"make {t}" not in text]
    assert not missing, f"CONTRIBUTING.md does not name make targets {missing}"


def test_contributing_names_every_tool_make_lint_runs() -> None:
    text = CONTRIBUTING.read_text()
    lint = _make_targets()["lint"]
    assert len(lint) >= 3, lint
    for recipe in lint:
        words = re.sub(r"^\$\(VENV\)/bin/", "", recipe).split()
        command = " ".join(words[: next((i for i, w in enumerate(words) if (ROOT / w).is_dir()), len(words))])
        assert command and command in text, f"CONTRIBUTING.md's Lint section does not say `{command}` ({recipe})"


def test_every_bench_script_is_in_the_bench_index() -> None:
    text = (ROOT / "bench" / "README.md").read_text()
    scripts = sorted(p.name for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_"))
    assert "stdin.py" in scripts
    missing = [s for s in scripts if f"[`{s}`]({s})" not in text]
    assert not missing, f"bench/README.md's table does not list {missing}"
