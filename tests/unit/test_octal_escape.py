"""The codec error handler `drkit-octal` (cli/output.py) escapes what a stream cannot encode as `printable`
does (`ls -b`): a byte that is not UTF-8 as ``\\351``, never Python's ``\\udce9``."""

from __future__ import annotations

import io
import os

from drkit.cli.output import printable


def test_octal_escape_matches_printable_for_bytes_that_are_not_utf8() -> None:
    name = os.fsdecode(b"caf\xe9-d\xff")
    assert name.encode("utf-8", "drkit-octal") == printable(name).encode() == b"caf\\351-d\\377"


def test_octal_escape_on_an_ascii_stream_shows_utf8_bytes() -> None:
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="drkit-octal")
    out.write("cr\u00e8me " + os.fsdecode(b"\xe9"))
    out.flush()
    assert out.buffer.getvalue() == b"cr\\303\\250me \\351"  # type: ignore[attr-defined]
