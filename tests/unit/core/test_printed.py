"""``drkit.core.printed.unescape`` reads back every name ``drkit.cli.output.printable`` prints (the `ls -b`
spelling), bytes that are not UTF-8 included; text with no escape, or one drkit never prints, is itself."""

from __future__ import annotations

import os
import random

import pytest

from drkit.cli.output import printable
from drkit.core.printed import spellings, unescape


def _names() -> list[bytes]:
    rng = random.Random(26)
    fixed = [
        b"\xffname",
        b"caf\xe9 au lait",
        b"back\\slash",
        b"\\377x",
        b"tab\tnl\nend\r",
        b"ctl\x01\x7f\x1b",
        b"\xe2\x80\x8b",
    ]
    drawn = [
        bytes(rng.choice(range(1, 256)) for _ in range(rng.randint(1, 12))).replace(b"/", b"_") for _ in range(3000)
    ]
    return fixed + drawn


def test_every_printed_name_reads_back_to_its_bytes() -> None:
    for raw in _names():
        name = os.fsdecode(raw)
        shown = printable(name)
        back = unescape(shown)
        assert os.fsencode(shown if back is None else back) == raw, (raw, shown)
        assert spellings(shown)[0] == name


@pytest.mark.parametrize("text", ["plain", "a\\q", "trailing\\", "\\400", "\\37"])
def test_text_drkit_never_prints_is_only_itself(text: str) -> None:
    assert unescape(text) is None
    assert spellings(text) == [text]


def test_the_printed_spelling_comes_first() -> None:
    assert spellings("\\377x") == ["\udcffx", "\\377x"]  # the byte 0xff, then the name typed raw
    assert spellings("a\\\\b") == ["a\\b", "a\\\\b"]
