"""``emit_json`` (every ``--json`` document) under ``PYTHONUNBUFFERED=1`` (the container image sets it): there
standard output's text layer writes straight to the raw file, whose ``write`` may write only part of a document
when the reader goes away mid-write, and says so only in its return value, which the text layer drops. The
command then exited 0 having printed a truncated JSON document. Now a reader that leaves mid-document ends the
command as one that leaves mid-``restore --to -`` does: exit 141 (SIGPIPE's), nothing on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SCRIPT = """
import click
from drkit.cli.output import emit_json

@click.command()
def cmd() -> None:
    emit_json({"rows": ["x" * 100] * 30000})  # ~3.2 MB: far more than a pipe holds, in one write

cmd.main(args=[], standalone_mode=False)
"""


def _run(unbuffered: bool, read: int | None) -> tuple[int, bytes, bytes]:
    env = (
        {**os.environ, "PYTHONUNBUFFERED": "1"}
        if unbuffered
        else {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    )
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    if read is None:
        out, err = proc.communicate(timeout=120)
        return proc.returncode, out, err
    # The document is one write of ~3.2 MB: once its first bytes are readable the writer is inside that write,
    # blocked on a full pipe, so closing the read end now ends that write part-way (no timing assumption).
    got = proc.stdout.read(read)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    return proc.wait(timeout=120), got, err


@pytest.mark.parametrize("unbuffered", [True, False], ids=["PYTHONUNBUFFERED=1", "buffered"])
def test_a_reader_that_leaves_mid_document_is_exit_141_not_0(unbuffered: bool) -> None:
    code, _, err = _run(unbuffered, read=100)
    assert code == 141, (code, err.decode())
    assert err == b"", err.decode()


def test_a_reader_that_stays_gets_the_whole_document() -> None:
    code, out, err = _run(True, read=None)
    assert code == 0, err.decode()
    assert json.loads(out) == {"rows": ["x" * 100] * 30000}
