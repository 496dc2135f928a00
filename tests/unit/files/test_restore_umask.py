"""The files restore reads the process's umask without setting it (``fetch._umask``): while a
set-and-put-back is in flight, a file another thread creates (the repository lock's refresh writing a
lock object to a local store) would get owner-only bits."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

from drkit.sources.files import fetch


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="Linux /proc")
@pytest.mark.parametrize("mask", [0o000, 0o022, 0o027, 0o077])
def test_umask_read_without_setting_it(monkeypatch: pytest.MonkeyPatch, mask: int) -> None:
    old = os.umask(mask)
    try:

        def umask(_: int) -> NoReturn:
            raise AssertionError("umask(2) set while the restore's other threads may create files")

        monkeypatch.setattr(os, "umask", umask)
        assert fetch._umask() == mask
        monkeypatch.undo()
    finally:
        os.umask(old)
