"""The healthchecks.io failure ping goes to the check's URL plus ``/fail`` in the path, also when the URL
carries a query (``?create=1`` for auto-provisioned checks): before, the suffix landed after the query."""

from __future__ import annotations

import pytest

from drkit.jobs.notify import with_suffix


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("https://hc.example/ping/abc", "https://hc.example/ping/abc/fail"),
        ("https://hc.example/ping/abc/", "https://hc.example/ping/abc/fail"),
        ("https://hc.example/ping/key/slug?create=1", "https://hc.example/ping/key/slug/fail?create=1"),
        ("https://hc.example/ping/abc?x=1#frag", "https://hc.example/ping/abc/fail?x=1#frag"),
    ],
)
def test_the_fail_suffix_goes_into_the_path(url: str, want: str) -> None:
    assert with_suffix(url, "/fail") == want


def test_no_suffix_leaves_the_url_as_given() -> None:
    assert with_suffix("https://hc.example/ping/abc/?create=1", "") == "https://hc.example/ping/abc/?create=1"
