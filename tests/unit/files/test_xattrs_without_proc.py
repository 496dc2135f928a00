"""Without /proc mounted, extended attributes of an entry are read by its full path (walker.Where), the
one read a parent swapped for a symlink can still redirect: said once as a warning, never silently."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from drkit.sources.files import walker
from drkit.sources.files.readahead import scan
from drkit.sources.files.walker import Where, open_dir


def test_without_proc_xattrs_are_read_by_path_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("a", "b"):
        (tmp_path / name).write_bytes(b"x")
        os.setxattr(tmp_path / name, "user.k", name.encode())
    monkeypatch.setattr(walker, "_PROC_FD", None)
    walker._no_proc_warning.cache_clear()
    top = Where(str(tmp_path), str(tmp_path))
    d = open_dir(top)
    try:
        with caplog.at_level(logging.WARNING, logger=walker.__name__):
            nodes = [scan(top.child(name, d.fd), name, None).node for name in ("a", "b")]
    finally:
        d.drop()
        walker._no_proc_warning.cache_clear()
    assert [n.xattrs for n in nodes if n is not None] == [{"user.k": "YQ=="}, {"user.k": "Yg=="}]
    assert len(caplog.records) == 1 and "/proc is not mounted" in caplog.records[0].getMessage()
