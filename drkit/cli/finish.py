"""Ending the drkit process without the interpreter's teardown (issue 25: serial time at the end of every command).

Once a command has returned its exit code, the interpreter still finalizes: it clears every module, collects
what is left and frees the heap object by object, ~15-25 ms of a `drkit backup stdin` that ran in ~2.2 s on 2
CPUs (bench/RESULTS.md, session 16): time that no second CPU shortens. The process's own entry point (the
console script, ``python -m drkit``) therefore ends with ``os._exit`` once what a normal exit guarantees is
done: the ``atexit`` callbacks (logging's flush, ``weakref.finalize`` clean-ups such as temporary
directories) and the flush of standard output and error. It falls back to the normal exit, unchanged, when it
cannot give those guarantees: a thread other than daemons still runs (a normal exit waits for it), the exit
status is not a number (``sys.exit("text")`` prints it), or a flush fails (a reader that left: the normal
exit reports it as before). An in-process caller (``main(argv)``: tests, the fault bench's zygote) never
gets here: its interpreter is not ending.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading


def end_process(done: SystemExit) -> None:
    """Exit now with ``done``'s status, skipping the interpreter's teardown; return (the caller re-raises
    ``done``) when a normal exit is needed."""
    code = 0 if done.code is None else done.code
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if not isinstance(code, int) or any(not t.daemon for t in others):
        return
    atexit._run_exitfuncs()  # runs each callback once and clears them: a normal exit after this runs none again
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return
    os._exit(code)
