#!/usr/bin/env python3
"""How many files a files backup's walk (its main thread) read itself, and why (issue 25).

Runs ``drkit ARGS`` in this process, with the drkit of ``--checkout`` (default: this one), counting the
walk's own reads of file content (``backup.read_small`` called on the walk's thread: the reader threads
call ``filereads.read_small``) and, for each file the walk took from the readers (``Readers.take``),
whether it had been handed to a reader at all and whether a reader had started it. Counts, not times:
whether a file was handed over does not depend on the load; whether a reader started it in time does.
Last, the main thread's CPU seconds (the walk's, imports and key derivation included).

Run: .venv/bin/python bench/walk_reads.py [--checkout DIR] -- backup files TREE --repo R
(DRKIT_PASSWORD in the environment; one CPU or ``--workers 1`` has no readers: every file is the walk's.)
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any


def _count(backup: Any, readahead: Any) -> Counter[str]:
    """Wrap the walk's own read and ``Readers.take`` to count; the counts fill in as the backup runs."""
    counts: Counter[str] = Counter()
    walk = threading.main_thread()
    real_read, real_take = backup.read_small, readahead.Readers.take

    def counting_read(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is walk:
            counts["walk read itself"] += 1
        return real_read(*args, **kwargs)

    def counting_take(self: Any, s: Any) -> Any:
        handed = s.read is not None
        got = real_take(self, s)
        if not handed:
            counts["taken: never handed to a reader"] += 1
        elif got is None:
            counts["taken: handed, not started by a reader"] += 1
        else:
            counts["taken: read by a reader"] += 1
        return got

    backup.read_small = counting_read
    readahead.Readers.take = counting_take
    return counts


def main(argv: list[str]) -> int:
    checkout = None
    if argv[:1] == ["--checkout"]:
        checkout, argv = argv[1], argv[2:]
    if argv[:1] != ["--"]:
        print(__doc__.split("Run: ")[1].strip(), file=sys.stderr)
        return 2
    if checkout is not None:
        sys.path.insert(0, str(Path(checkout).resolve()))
    from drkit.cli.main import main as drkit_main  # noqa: PLC0415 (the checkout's, once on the path)
    from drkit.sources.files import backup, readahead  # noqa: PLC0415

    print(f"drkit from {Path(backup.__file__).parents[3]}", file=sys.stderr)

    counts = _count(backup, readahead)
    code = 0
    try:
        drkit_main(argv[1:])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    for what, n in sorted(counts.items()):
        print(f"{what}: {n}", file=sys.stderr)
    print(f"main thread CPU: {time.thread_time():.2f} s", file=sys.stderr)  # the walk's, from the start
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
