"""``drkit find`` patterns: names without ``/``, whole paths segment by segment with ``/``, ``**`` any depth."""

from __future__ import annotations

import pytest

from drkit.core.errors import UsageError
from drkit.ops.find import Pattern


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.py", "/src/app/mod1.py", True),
        ("*.py", "/src/app.py/x", False),
        ("mod?.py", "/src/app/mod1.py", True),
        ("/src/*/mod1.py", "/src/app/mod1.py", True),
        ("src/*/mod1.py", "/src/app/mod1.py", True),
        ("/src/*", "/src/app/mod1.py", False),
        ("/src/**", "/src/app/mod1.py", True),
        ("/src/**/mod1.py", "/src/mod1.py", True),
        ("/src/**/mod1.py", "/src/a/b/c/mod1.py", True),
        ("/**/static/*", "/src/app/static/logo.bin", True),
        ("/**/static/*", "/src/app/static", False),
        ("/src/[ab]pp/*", "/src/app/x", True),
        ("/**/**/**/x", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/y", False),
    ],
)
def test_pattern(pattern: str, path: str, expected: bool) -> None:
    assert Pattern(pattern).matches(path, path.rsplit("/", 1)[-1]) is expected


def test_ignore_case_and_empty() -> None:
    assert Pattern("*.JPG", ignore_case=True).matches("/a/b.jpg", "b.jpg")
    assert not Pattern("*.JPG").matches("/a/b.jpg", "b.jpg")
    with pytest.raises(UsageError):
        Pattern("/")
