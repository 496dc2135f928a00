#!/usr/bin/env python3
"""The request timeline of one drkit backup (and optionally its restore) at a given round trip time:
SeaweedFS behind bench/latency_proxy.py, a fresh repository, bench/request_trace.py around the command.

Run: .venv/bin/python bench/latency_trace.py [--rtt 60] [--size-mib 256] [--checkout /work/main]
     [--restore] [--out DIR]

``--checkout`` traces another checkout's code (its .venv and its bench/request_trace.py), to put the
timelines of two versions side by side under the same proxy. Prints request_trace's summary (the calls
that ran alone, the first pack upload, the end) and the load average; ``--out`` keeps each call as TSV.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))

from _common import load_note, warm_page_cache, write_mixed_stream  # noqa: E402
from latency import BUCKET, PASSWORD, start_proxy  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rtt", type=float, default=60.0, help="round trip time in ms (default 60)")
    p.add_argument("--size-mib", type=int, default=256)
    p.add_argument("--mbit", type=float, default=1000.0)
    p.add_argument("--window-kib", type=int, default=4096)
    p.add_argument("--checkout", type=Path, default=ROOT, help="the drkit checkout to trace (default: this one)")
    p.add_argument("--restore", action="store_true", help="trace `restore latest --to -` after the backup")
    p.add_argument("--out", type=Path, default=None, help="a directory for the calls as TSV")
    args = p.parse_args(argv)
    from servers.seaweedfs import start_seaweedfs

    python = str(args.checkout / ".venv" / "bin" / "python")
    tracer = str(args.checkout / "bench" / "request_trace.py")
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="drkit-trace-")))
        stream = write_mixed_stream(work / "stream.bin", args.size_mib, 1)
        warm_page_cache(stream.path)
        server = stack.enter_context(start_seaweedfs(work / "seaweedfs"))
        server.make_bucket(BUCKET)
        proxy, endpoint = start_proxy(server.endpoint.removeprefix("http://"), args.rtt, args)
        stack.callback(proxy.wait)
        stack.callback(proxy.kill)
        repo = f"s3://{BUCKET}/trace?endpoint={endpoint}&path_style=true&region=us-east-1"
        env = {
            **os.environ,
            **server.env(),
            "DRKIT_PASSWORD": PASSWORD,
            "XDG_CACHE_HOME": str(work / "cache"),
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        drkit = str(args.checkout / ".venv" / "bin" / "drkit")
        subprocess.run([drkit, "init", "--repo", repo], env=env, check=True, stdout=subprocess.DEVNULL)
        steps = [("backup", ["--stdin", str(stream.path)], ["backup", "stdin", "--name", "s"])]
        if args.restore:
            steps.append(("restore", [], ["restore", "latest", "--to", "-"]))
        for name, extra, command in steps:
            out = ["--out", str(args.out / f"{name}.tsv")] if args.out else []
            if args.out:
                args.out.mkdir(parents=True, exist_ok=True)
            print(f"== {name} at {args.rtt:g} ms, {args.checkout}: {load_note(False)}", flush=True)
            t0 = time.monotonic()
            subprocess.run(
                [python, tracer, *extra, *out, "--", *command, "--repo", repo],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            print(f"== {name}: {time.monotonic() - t0:.2f} s whole; {load_note(False)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
