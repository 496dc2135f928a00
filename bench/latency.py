#!/usr/bin/env python3
"""Latency bench: drkit vs restic backing up a stream to S3 (SeaweedFS) and restoring it, through a proxy
that adds a round-trip delay, a bandwidth cap and a per-connection window (bench/latency_proxy.py).

Run: .venv/bin/python bench/latency.py [--rtts 0,20,60] [--size-mib 256] [--mbit 1000] [--rounds 1]
     [--baseline /path/to/other/drkit]

For each round trip time it starts a proxy in front of one SeaweedFS server and, per round, runs each tool
on a fresh repository (the order alternates): init, ``backup`` of the stream from stdin, restore of it to a
hash (checked against the stream). restic: ``-o s3.connections=N`` at its default, 5
(``--restic-connections``); drkit at its own defaults (``--drkit-connections`` to pick). ``--baseline`` runs
a second drkit executable too (say, the main checkout's), to compare against the code of today. It prints
every step, the load average with each, and a table of MB/s and drkit/restic ratios per round trip time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))

from _common import (  # noqa: E402
    MIB,
    StreamInfo,
    fmt,
    format_table,
    load_note,
    machine_summary,
    mb_per_s,
    median_or_none,
    new_hasher,
    ratio,
    run_measured,
    tool_version,
    warm_page_cache,
    write_mixed_stream,
)

PASSWORD = "latency-bench-passphrase"
BUCKET = "bench"
STEPS = ("init", "backup", "restore")


@dataclass
class Tool:
    name: str
    exe: str
    argv: Callable[[str, str], list[str]]  # (step, repo location) -> argv
    location: Callable[[str, str], str]  # (endpoint, prefix) -> repo location
    env: Callable[[Path], dict[str, str]]  # cache dir -> extra environment


def restic_tool(exe: str, connections: int) -> Tool:
    opts = ["-o", f"s3.connections={connections}", "-o", "s3.bucket-lookup=path", "-o", "s3.region=us-east-1"]
    steps = {
        "init": ["init", "--repository-version", "2"],
        "backup": ["backup", "--compression", "auto", "--host", "bench", "--stdin", "--stdin-filename", "stream.bin"],
        "restore": ["dump", "latest", "/stream.bin"],
    }
    return Tool(
        "restic",
        exe,
        lambda step, repo: [exe, "--repo", repo, *opts, *steps[step]],
        lambda endpoint, prefix: f"s3:{endpoint}/{BUCKET}/{prefix}",
        lambda cache: {"RESTIC_PASSWORD": PASSWORD, "RESTIC_CACHE_DIR": str(cache)},
    )


def drkit_tool(name: str, exe: str, connections: int | None) -> Tool:
    opts = ["--connections", str(connections)] if connections else []
    steps = {
        "init": ["init"],
        "backup": ["backup", "stdin", "--name", "stream"],
        "restore": ["restore", "latest", "--to", "-"],
    }
    return Tool(
        name,
        exe,
        lambda step, repo: [exe, *opts, *steps[step], "--repo", repo],
        lambda endpoint, prefix: f"s3://{BUCKET}/{prefix}?endpoint={endpoint}&path_style=true&region=us-east-1",
        lambda cache: {"DRKIT_PASSWORD": PASSWORD, "XDG_CACHE_HOME": str(cache)},
    )


@dataclass
class Cell:
    """One tool's run at one round trip time in one round: seconds per step, or why it failed."""

    seconds: dict[str, float] = field(default_factory=dict)
    rss: dict[str, int] = field(default_factory=dict)
    failed: str | None = None


def start_proxy(upstream: str, rtt_ms: float, args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("latency_proxy.py")),
            "--upstream",
            upstream,
            "--rtt-ms",
            str(rtt_ms),
            "--mbit",
            str(args.mbit),
            "--window-kib",
            str(args.window_kib),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()  # "listening on HOST:PORT" once it accepts
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"the latency proxy did not start: {line!r}")
    return proc, "http://" + line.removeprefix("listening on ")


@dataclass
class Place:
    """Where one round trip time's runs happen: the proxy's endpoint, the environment, the stream."""

    endpoint: str
    env: dict[str, str]
    work: Path
    stream: StreamInfo
    client: Any = None  # a boto3 client of the server, to sum what each tool stored


def stored_bytes(client: Any, prefix: str) -> int | None:
    """Bytes under ``prefix/`` in the bench's bucket (every object the tool wrote), or None without a client."""
    if client is None:
        return None
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/")
    return sum(o["Size"] for page in pages for o in page.get("Contents", []))


def run_tool(tool: Tool, place: Place, prefix: str, label: str) -> Cell:
    endpoint, base_env, work, stream = place.endpoint, place.env, place.work, place.stream
    cell = Cell()
    cache = work / "cache" / prefix
    cache.mkdir(parents=True, exist_ok=True)
    env = {**base_env, **tool.env(cache)}
    repo = tool.location(endpoint, prefix)
    for step in STEPS:
        hasher, _ = new_hasher()
        res = run_measured(
            tool.argv(step, repo),
            stdin=stream.path if step == "backup" else None,
            stdout=hasher.update if step == "restore" else None,
            env=env,
            timeout=3600,
        )
        if not res.ok:
            cell.failed = f"{step}: {res.describe_failure()}\n{res.stderr_tail()}"
            print(f"  {label} {tool.name:<11} {step:<8} FAILED {cell.failed}", flush=True)
            return cell
        if step == "restore" and hasher.hexdigest() != stream.digest:
            cell.failed = "restore: the restored bytes differ from the stream"
            print(f"  {label} {tool.name:<11} {step:<8} WRONG BYTES", flush=True)
            return cell
        cell.seconds[step], cell.rss[step] = res.wall_s, res.maxrss_bytes
        speed = "" if step == "init" else f"{mb_per_s(stream.size, res.wall_s):8.1f} MB/s"
        if step == "backup" and (stored := stored_bytes(place.client, prefix)) is not None:
            speed += f" ({stored / 1e6:.1f} MB stored)"
        print(
            f"  {label} {tool.name:<11} {step:<8} {res.wall_s:7.2f} s {speed:>13}  "
            f"{res.maxrss_bytes / MIB:6.1f} MiB RSS  {res.cpu_s:6.2f} s CPU  {load_note(False)}",
            flush=True,
        )
    return cell


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rtts", default="0,20,60", help="round trip times in ms, comma-separated (default 0,20,60)")
    p.add_argument("--size-mib", type=int, default=256, help="stream size (default 256)")
    p.add_argument("--mbit", type=float, default=1000.0, help="the proxy's bandwidth cap per direction (0: none)")
    p.add_argument("--window-kib", type=int, default=4096, help="the proxy's per-connection window (default 4096)")
    p.add_argument("--rounds", type=int, default=1, help="rounds per round trip time; medians reported")
    p.add_argument("--restic-connections", type=int, default=5, help="restic's -o s3.connections (default 5)")
    p.add_argument("--drkit-connections", type=int, default=None, help="drkit's --connections (default: its own)")
    p.add_argument("--only", choices=("both", "restic", "drkit"), default="both")
    p.add_argument("--restic", default="restic")
    p.add_argument("--drkit", default=str(Path(sys.executable).with_name("drkit")))
    p.add_argument("--baseline", default=None, help="another drkit executable to run too (e.g. today's main)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", type=Path, default=None)
    return p.parse_args(argv)


def tools_of(args: argparse.Namespace) -> list[Tool]:
    tools = []
    if args.only in ("both", "drkit"):
        tools.append(drkit_tool("drkit", args.drkit, args.drkit_connections))
        if args.baseline:
            tools.append(drkit_tool("drkit-base", args.baseline, args.drkit_connections))
    if args.only in ("both", "restic"):
        tools.append(restic_tool(args.restic, args.restic_connections))
    return tools


def summary(results: dict[float, dict[str, list[Cell]]], size: int, names: list[str]) -> str:
    headers = ["rtt", "step", *[f"{n} MB/s" for n in names]]
    peer = "restic" if "restic" in names else None
    headers += [f"{n}/restic" for n in names if peer and n != peer]
    if "drkit-base" in names:
        headers.append("drkit/drkit-base")
    rows = []
    for rtt, by_tool in results.items():
        for step in ("backup", "restore"):
            speed = {
                n: median_or_none(mb_per_s(size, c.seconds[step]) if step in c.seconds else None for c in by_tool[n])
                for n in names
            }
            row = [f"{rtt:g} ms", step, *[fmt(speed[n]) for n in names]]
            row += [fmt(ratio(speed[n], speed[peer]), 2, "x") for n in names if peer and n != peer]
            if "drkit-base" in names:
                row.append(fmt(ratio(speed["drkit"], speed["drkit-base"]), 2, "x"))
            rows.append(row)
    return format_table(headers, rows, left_cols=2)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from servers.seaweedfs import start_seaweedfs

    tools = tools_of(args)
    rtts = [float(x) for x in args.rtts.split(",") if x.strip()]
    print(f"command: {' '.join(sys.argv)}\nmachine: {machine_summary()}\n{load_note()} (start)")
    for tool in tools:
        print(f"{tool.name}: {tool_version([tool.exe, 'version' if tool.name == 'restic' else '--version'])}")
    print(f"proxy: bandwidth {args.mbit:g} Mbit/s per direction, window {args.window_kib} KiB per connection")
    print(
        "measured: wall time of each whole command (start-up, key derivation and repository open included); "
        "MB/s = stream bytes / that time. Same stream from the same file for every tool; both compress "
        "(drkit zstd level 3, restic --compression auto in a version 2 repository); CPU = user + system"
    )
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="drkit-latency-", dir=args.workdir)))
        stream = write_mixed_stream(work / "stream.bin", args.size_mib, args.seed)
        warm_page_cache(stream.path)
        server = stack.enter_context(start_seaweedfs(work / "seaweedfs"))
        server.make_bucket(BUCKET)
        base_env = {
            **os.environ,
            **server.env(),
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        results: dict[float, dict[str, list[Cell]]] = {}
        for rtt in rtts:
            proxy, endpoint = start_proxy(server.endpoint.removeprefix("http://"), rtt, args)
            try:
                by_tool: dict[str, list[Cell]] = {t.name: [] for t in tools}
                for r in range(1, args.rounds + 1):
                    for tool in tools if r % 2 else tools[::-1]:
                        prefix = f"{tool.name}-{rtt:g}ms-{r}"
                        place = Place(endpoint, base_env, work, stream, server.client())
                        by_tool[tool.name].append(run_tool(tool, place, prefix, f"{rtt:g} ms r{r}"))
                results[rtt] = by_tool
            finally:
                proxy.kill()
                proxy.wait()
    print(f"\n{load_note(False)} (end)\n")
    print(summary(results, stream.size, [t.name for t in tools]))
    failed = any(c.failed for by_tool in results.values() for cells in by_tool.values() for c in cells)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
