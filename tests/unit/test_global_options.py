"""Global options anywhere on the command line (cli/globalopts.py)."""

from __future__ import annotations

import pytest

from drkit.cli.globalopts import hoist


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["snapshots", "--config", "c.yaml"], ["--config", "c.yaml", "snapshots"]),
        (["job", "list", "--debug", "--json"], ["--debug", "job", "list", "--json"]),
        (["ls", "latest", "--log-level=debug", "-l"], ["--log-level=debug", "ls", "latest", "-l"]),
        (["--debug", "check", "--retry-for", "5s"], ["--debug", "--retry-for", "5s", "check"]),
        (["find", "--", "--debug"], ["find", "--", "--debug"]),  # after --: an argument, left alone
        (["snapshots", "--config"], ["snapshots", "--config"]),  # no value: click says so
        (["backup", "stdin", "--name", "x"], ["backup", "stdin", "--name", "x"]),
        (["backup", "files", "d", "--limit-upload", "64"], ["--limit-upload", "64", "backup", "files", "d"]),
        (["restore", "latest", "--limit-download=8"], ["--limit-download=8", "restore", "latest"]),
        (["backup", "files", "d", "-q"], ["-q", "backup", "files", "d"]),
        (["restore", "files", "latest", "--workers", "2"], ["--workers", "2", "restore", "files", "latest"]),
        (["backup", "files", "d", "--connections=4"], ["--connections=4", "backup", "files", "d"]),
        (["ls", "latest", "--quiet", "-l"], ["--quiet", "ls", "latest", "-l"]),
    ],
)
def test_hoist(given: list[str], expected: list[str]) -> None:
    assert hoist(given) == expected
