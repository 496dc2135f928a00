"""``quiet_broken_pipe``: only a reader of standard output that went away ends a command quietly; a broken pipe
elsewhere (a child's stdin, a socket) stays an error."""

from __future__ import annotations

import pytest

from drkit.cli.output import quiet_broken_pipe


def test_other_broken_pipe_is_not_swallowed() -> None:
    with pytest.raises(BrokenPipeError), quiet_broken_pipe():  # pytest's stdout has a live reader
        raise BrokenPipeError(32, "a child's stdin")
