"""The exit-code table, shown in every command's --help."""

from __future__ import annotations

from ..core.errors import EXIT_CODES

EXIT_CODES_EPILOG = "\b\nExit codes:\n" + "\n".join(f"  {code:>3}  {text}" for code, text in EXIT_CODES.items())
