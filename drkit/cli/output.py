"""Everything the CLI prints: errors as one line (plus a hint), JSON documents, plain lines."""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import os
import select
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any

import click

from ..core.fileio import binary_stdout
from ..core.printed import printable as printable  # re-exported (core: the repository uses it too)

_quiet = False  # the global -q/--quiet, set by the root command on every call (an in-process run must not inherit it)


def set_quiet(on: bool) -> None:
    global _quiet  # noqa: PLW0603 - one flag for the run, as the retry window and rate limits are
    _quiet = on


def quiet() -> bool:
    """Whether -q/--quiet was given: no progress, no summary line of a backup or restore; listings, JSON,
    warnings and errors are printed all the same."""
    return _quiet


def emit_json(doc: Any) -> None:
    """Print ``doc`` as JSON on standard output, every byte or an error: a reader that leaves mid-document
    ends the command quietly with exit 141, as `restore --to - | head` does (``quiet_broken_pipe``)."""
    text = json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n"
    if not hasattr(sys.stdout, "buffer"):  # a text-only stdout (redirect_stdout to a StringIO): no short writes
        click.echo(text, nl=False)
        return
    with quiet_broken_pipe():
        sys.stdout.flush()  # what was printed before comes first
        # binary_stdout(): buffered even under PYTHONUNBUFFERED=1, where the text layer writes to the raw file
        # and drops a short write's count: the command exited 0 with half a document
        out = binary_stdout()
        out.write(text.encode(sys.stdout.encoding or "utf-8", "backslashreplace"))  # json.dumps: ASCII
        out.flush()


def _octal_escape(exc: UnicodeError) -> tuple[str, int]:
    """The codec error handler ``drkit-octal``: what a stream cannot encode, as `printable` shows it (each
    byte that is not UTF-8 as ``\\351``, another character as its UTF-8 bytes in octal), never ``\\udce9``."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = []
    for ch in exc.object[exc.start : exc.end]:
        if 0xDC80 <= ord(ch) <= 0xDCFF:
            out.append(f"\\{ord(ch) - 0xDC00:03o}")
        else:
            out.extend(f"\\{b:03o}" for b in ch.encode("utf-8", "surrogatepass"))
    return "".join(out), exc.end


codecs.register_error("drkit-octal", _octal_escape)


def escape_unencodable() -> None:
    """Lines no command escapes itself (a restore's target, a warning naming a file that is not UTF-8) are
    written with ``drkit-octal``: shown escaped as `printable` escapes them, never an internal error."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="drkit-octal")


def error_line(
    message: str, hint: str | None = None, *, code: int, as_json: bool = False, details: list[str] | None = None
) -> None:
    one_line = " ".join(message.split())
    click.echo(f"drkit: error: {one_line}", err=True)
    for detail in details or []:
        click.echo(f"  {' '.join(detail.split())}", err=True)
    if hint:
        click.echo(f"hint: {hint}", err=True)
    if as_json:
        click.echo(json.dumps({"error": {"code": code, "message": one_line}}), err=True)


def is_tty() -> bool:
    return sys.stdout.isatty()


def _have_rich() -> bool:
    """Progress lines are drkit[rich]'s (issue #22: a lean core install); without it a run is just quiet."""
    return find_spec("rich") is not None


@contextmanager
def byte_progress(description: str, *, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A rich progress line (bytes, rate, elapsed) on a TTY's stderr; ``None`` when disabled or without rich."""
    if not enabled or _quiet or not sys.stderr.isatty() or not _have_rich():
        yield None
        return
    from rich.console import Console
    from rich.progress import DownloadColumn, Progress, SpinnerColumn, TimeElapsedColumn, TransferSpeedColumn

    columns = (SpinnerColumn(), "{task.description}", DownloadColumn(), TransferSpeedColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda n: bar.advance(task, n)


@dataclass
class Meter:
    """A progress line whose total may become known while it runs (then: a bar, a percentage and an ETA)."""

    advance: Callable[[int], None]
    set_total: Callable[[int], None]
    restart: Callable[[str], None]  # a new phase of unknown size, under a new description


@contextmanager
def byte_meter(description: str, *, enabled: bool) -> Iterator[Meter | None]:
    """As ``byte_progress``, plus ``set_total`` (callable from any thread: rich's Progress holds a lock)."""
    if not enabled or _quiet or not sys.stderr.isatty() or not _have_rich():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TaskProgressColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        "{task.description}",
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        "ETA",
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield Meter(
            lambda n: bar.advance(task, n),
            lambda total: bar.update(task, total=max(total, 1)),
            lambda text: bar.reset(task, total=None, description=text),
        )


BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE: what a program the signal ended would return


@contextmanager
def quiet_broken_pipe() -> Iterator[None]:
    """A reader that stops early (`| head`) ends the command quietly with SIGPIPE's code, not click's exit 1
    (click turns EPIPE into exit 1 itself, so this must sit inside the command). Standard output is pointed at
    /dev/null first: the interpreter's final flush would report the broken pipe again."""
    try:
        yield
    except BrokenPipeError:
        if not _stdout_gone():  # another pipe (a child's, a socket) broke: an error, not a reader that left
            raise
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(BROKEN_PIPE_EXIT) from None


def _stdout_gone() -> bool:
    """Whether standard output's reader has gone (poll reports an error on a pipe whose read end is closed)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError):
        return False
