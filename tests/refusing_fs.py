"""A file system without O_DIRECT support, for tests: ``fcntl`` refusing to turn the flag on."""

from __future__ import annotations

import errno
import fcntl
import os
import tempfile
from pathlib import Path

from drkit.core import filewriters


class RefusingFcntl:
    """Put in place of ``drkit.core.filewriters.fcntl``: setting O_DIRECT fails with EINVAL, as on a
    file system that does not take direct I/O."""

    F_GETFL, F_SETFL = fcntl.F_GETFL, fcntl.F_SETFL

    @staticmethod
    def fcntl(fd: int, cmd: int, arg: int = 0) -> int:
        if cmd == fcntl.F_SETFL and arg & filewriters.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return fcntl.fcntl(fd, cmd, arg)


def takes_o_direct(directory: Path) -> bool:
    """Whether files in ``directory`` take O_DIRECT (tmpfs did not before Linux 6.6), so a test
    expecting direct writes can skip instead of failing on such a file system."""
    fd, name = tempfile.mkstemp(dir=directory)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | filewriters.O_DIRECT)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
        os.unlink(name)
