#!/usr/bin/env python3
"""Where a drkit command's storage requests go: every call on the repository's backend, with its thread,
key, bytes, start and end, and whether it overlapped another call (parallel) or ran alone (sequential).

Run: .venv/bin/python bench/request_trace.py [--stdin FILE] [--out TRACE.tsv] -- backup stdin --name s --repo URL
(the passphrase from DRKIT_PASSWORD as usual). It runs drkit's CLI in this process with the backend wrapped
(drkit/repository/traced.py's hook), then prints a summary: calls per kind, the sequential ones in order
(what a round trip time multiplies), and the time to the first pack upload. Put a latency proxy
(bench/latency_proxy.py) in front of the store to see what a far-away store costs.
"""

from __future__ import annotations

import argparse
import io
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from backends.recording import Call, RecordingBackend, sequential  # noqa: E402

T0 = time.monotonic()


def install(calls: list[Call]) -> None:
    """Wrap every backend the command opens from a URL in a recorder."""
    import drkit.ops.session as session

    opener = session.open_backend

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return RecordingBackend(opener(*args, **kwargs), calls)

    session.open_backend = wrapped  # type: ignore[assignment]


def say(line: str) -> None:
    print(line, file=sys.stderr)  # standard output may be the command's (`restore --to -`)


def report(calls: list[Call], out: Path | None) -> None:
    calls = sorted(calls, key=lambda c: c.start)
    if out is not None:
        with out.open("w") as f:
            f.write("start_s\tend_s\tthread\tcall\tkey\tbytes\n")
            for c in calls:
                f.write(f"{c.start - T0:.3f}\t{c.end - T0:.3f}\t{c.thread}\t{c.call}\t{c.key}\t{c.nbytes}\n")
    kinds = Counter(f"{c.call} {c.key.split('/')[0]}" for c in calls)
    say(f"\n{len(calls)} storage calls: " + ", ".join(f"{k} ×{n}" for k, n in sorted(kinds.items())))
    alone = sequential(calls)
    say(f"{len(alone)} ran with no other call in flight (sequential):")
    for c in alone:
        say(f"  {c.start - T0:7.3f}-{c.end - T0:7.3f} s  {c.thread:<16} {c.call:<14} {c.key}")
    first_pack = next((c for c in calls if c.call.startswith("put") and c.key.startswith("data/")), None)
    if first_pack is not None:
        say(f"first pack upload started at {first_pack.start - T0:.3f} s")
    if calls:
        say(f"first call at {calls[0].start - T0:.3f} s, last ended at {max(c.end for c in calls) - T0:.3f} s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stdin", type=Path, default=None, help="a file to give the command as standard input")
    p.add_argument("--out", type=Path, default=None, help="write every call as TSV here")
    p.add_argument("drkit_args", nargs=argparse.REMAINDER)
    args = p.parse_args()
    argv = [a for a in args.drkit_args if a != "--"] if args.drkit_args[:1] == ["--"] else args.drkit_args
    calls: list[Call] = []
    install(calls)
    if args.stdin is not None:
        sys.stdin = io.TextIOWrapper(open(args.stdin, "rb"))  # noqa: SIM115 - the command reads sys.stdin.buffer
    from drkit.cli.main import main as drkit_main

    code = 0
    try:
        drkit_main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    report([c for c in calls if c.end], args.out)
    say(f"exit {code}; threads alive at the end: {threading.active_count()}")
    return code


if __name__ == "__main__":
    sys.exit(main())
