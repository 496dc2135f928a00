"""A file system without O_DIRECT support, for tests: ``fcntl`` refusing to turn the flag on."""

from __future__ import annotations

import errno
import fcntl

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
