"""Restore excludes holding a ``/`` are snapshot paths with or without the leading ``/`` (``src/keep``
matched nothing before f36f062); a spelling that already matched something matches it still:
``*/cache`` the top-level entry ``cache`` (``*`` may be empty), ``?src/keep`` ``/src/keep`` (``?`` the
leading ``/``). Before, the rooted form replaced the pattern and those stopped matching."""

from __future__ import annotations

import pytest

from drkit.sources.files import Excludes
from drkit.sources.files.cmd import _rooted


@pytest.mark.parametrize(
    ("pattern", "path", "name"),
    [
        ("src/keep", "/src/keep", "keep"),
        ("src/keep/", "/src/keep/f", "f"),
        ("/src/keep", "/src/keep", "keep"),
        ("src/k*p", "/src/keep", "keep"),
        ("*/cache", "/cache", "cache"),
        ("*/cache", "/src/app/cache", "cache"),
        ("?src/keep", "/src/keep", "keep"),
        ("keep", "/src/keep", "keep"),
    ],
)
def test_a_restore_exclude_matches(pattern: str, path: str, name: str) -> None:
    assert Excludes(_rooted((pattern,))).match(path, name)


@pytest.mark.parametrize(
    ("pattern", "path", "name"), [("src/keep", "/other/src/keep", "keep"), ("keep", "/src/k", "k")]
)
def test_a_restore_exclude_does_not_match(pattern: str, path: str, name: str) -> None:
    assert not Excludes(_rooted((pattern,))).match(path, name)
