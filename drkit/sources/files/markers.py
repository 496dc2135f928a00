"""What a backup leaves out besides exclude globs: directories marked by a file (``--exclude-if-present``,
``--exclude-caches``) and files over a size (``--exclude-larger-than``), as restic does."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from ...core.errors import UsageError

CACHEDIR_TAG = "CACHEDIR.TAG"
# https://bford.info/cachedir/: a cache directory holds a file of this name that begins with these bytes
CACHEDIR_SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"


@dataclass(frozen=True)
class Marker:
    """A directory holding a file ``name`` (whose content begins with ``header``, if given) is backed up
    with only that file: the directory and the marker stay, so a restore shows what was left out."""

    name: str
    header: bytes = b""

    @classmethod
    def parse(cls, spec: str) -> Marker:
        """``NAME`` or ``NAME:HEADER`` (restic's spelling)."""
        name, _, header = spec.partition(":")
        if not name or "/" in name or name in (".", ".."):
            raise UsageError(f"--exclude-if-present {spec!r}: give a file name (NAME or NAME:HEADER)")
        return cls(name, header.encode())

    def marks(self, directory: str | int, names: list[str]) -> bool:
        """Whether ``directory`` (a path, or the walk's open descriptor) is marked; ``names`` are its entries."""
        if self.name not in names:
            return False
        if not self.header:
            return True
        try:  # O_NOFOLLOW: a symlink named like the marker does not mark (nor make us read elsewhere)
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
            if isinstance(directory, int):
                fd = os.open(self.name, flags, dir_fd=directory)
            else:
                fd = os.open(os.path.join(directory, self.name), flags)
        except OSError:
            return False
        try:  # a regular file only: never read a device or FIFO someone named like the marker
            return stat.S_ISREG(os.fstat(fd).st_mode) and os.read(fd, len(self.header)) == self.header
        except OSError:
            return False
        finally:
            os.close(fd)


CACHEDIR = Marker(CACHEDIR_TAG, CACHEDIR_SIGNATURE)


def kept_names(markers: tuple[Marker, ...], directory: str | int, names: list[str]) -> list[str]:
    """``names`` of ``directory`` to back up: only its marker files if a marker marks it, else all."""
    found = [m.name for m in markers if m.marks(directory, names)]
    return sorted(set(found)) if found else names  # ``names`` itself when unmarked (the caller tells them apart)
