"""Reading back a file name as drkit prints it (``drkit.cli.output.printable``, the ``ls -b`` spelling): a
backslash doubled (``\\\\``), a space as ``\\ ``, control characters as C escapes (``\\n``, ``\\t`` …) and every
other byte as three octal digits (``caf\\351``, a byte that is not UTF-8). So a name `drkit ls` shows can be
typed back, `drkit restore files latest --include '/src/caf\\351'`, and name the file whose bytes are
``caf\\xe9``. Written here (twenty lines) because no library reads this spelling: ``codecs``'
``unicode_escape`` takes ``\\xNN`` and ``\\uNNNN`` too, and does not give surrogate-escaped bytes."""

from __future__ import annotations

import re

__all__ = ["spellings", "unescape"]

_SIMPLE = {"\\": b"\\", " ": b" ", "n": b"\n", "t": b"\t", "r": b"\r", "a": b"\a", "b": b"\b", "f": b"\f", "v": b"\v"}
_OCTAL = re.compile(r"[0-3][0-7]{2}")


def unescape(text: str) -> str | None:
    """The name ``text`` spells as drkit prints names (bytes that are not UTF-8 as U+DC80..U+DCFF, Python's
    surrogateescape, as ``os.fsdecode`` gives them); None when ``text`` holds no escape or one drkit does not
    print (``\\q``, ``\\400``): then it is only itself."""
    if "\\" not in text:
        return None
    out, i = bytearray(), 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out += ch.encode("utf-8", "surrogateescape")
            i += 1
        elif text[i + 1 : i + 2] in _SIMPLE:  # "" (a trailing backslash) is not a key
            out += _SIMPLE[text[i + 1]]
            i += 2
        elif _OCTAL.fullmatch(text[i + 1 : i + 4]):
            out.append(int(text[i + 1 : i + 4], 8))
            i += 4
        else:
            return None
    return out.decode("utf-8", "surrogateescape")


def spellings(text: str) -> list[str]:
    """The names ``text`` may mean, the one drkit would have printed as ``text`` first: its unescaped form,
    then ``text`` itself (a name typed raw: `a\\b` has no backslash escape drkit prints, `a\\tb` is tried as
    the tab first)."""
    plain = unescape(text)
    return [plain, text] if plain is not None and plain != text else [text]


_C_ESCAPES = {
    "\\": "\\\\",
    " ": "\\ ",
    "\n": "\\n",
    "\t": "\\t",
    "\r": "\\r",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\v": "\\v",
}


def printable(name: str) -> str:
    """A file name for a terminal, as `ls -b` shows it: a backslash doubled, a space as ``\\ `` (so a name
    holding `` -> `` cannot pass for a symlink's arrow), control characters as C escapes
    (``\\n``) or octal, and each byte that is not UTF-8 (decoded as U+DC80..U+DCFF, Python's surrogateescape)
    as its octal escape (``caf\\351``). Names as they are in JSON (``\\udce9``, lossless: ``os.fsencode``)."""
    if name.isprintable() and "\\" not in name and " " not in name:
        return name
    out = []
    for ch in name:
        if ch in _C_ESCAPES:
            out.append(_C_ESCAPES[ch])
        elif 0xDC80 <= ord(ch) <= 0xDCFF:
            out.append(f"\\{ord(ch) - 0xDC00:03o}")
        elif not ch.isprintable():
            out.extend(f"\\{b:03o}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            out.append(ch)
    return "".join(out)
