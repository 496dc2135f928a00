#!/usr/bin/env python3
"""A TCP proxy that makes a loopback server look far away: a round-trip delay, a bandwidth cap and a
per-connection window, for the latency bench (bench/latency.py) or by hand.

Run: python bench/latency_proxy.py --upstream 127.0.0.1:8333 --rtt-ms 60 [--mbit 1000] [--window-kib 4096]
It prints ``listening on 127.0.0.1:PORT`` once ready and forwards until killed.

The model, per direction of each connection:
- every byte arrives ``rtt/2`` after it was sent (so a request and its answer cost one round trip);
- the link is shared by all connections: bytes leave in order at ``--mbit`` (0: no cap), one queue
  per direction (upload and download);
- a connection keeps at most ``--window-kib`` bytes unacknowledged (a byte is acknowledged a round trip
  after it was sent; Linux's receive-buffer autotuning tops out near 4-6 MiB), so one connection moves
  at most window/rtt: about 70 MB/s at 60 ms with 4 MiB. This is what makes requests in flight
  matter on a real link; without it a single connection would see no latency cost beyond one round
  trip per request;
- a new connection costs one more round trip before its first byte arrives (the TCP handshake).
TCP slow start, loss and retransmission are not modelled.

asyncio, standard library only: the proxy runs in its own process, so its CPU shows in neither tool's
figures (it costs both tools alike, per byte moved).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

CHUNK = 64 << 10


class Link:
    """One direction of the shared link: bytes leave in order at ``rate`` bytes a second (0: at once)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.free_at = 0.0

    def depart(self, now: float, n: int) -> float:
        if not self.rate:
            return now
        start = max(now, self.free_at)
        self.free_at = start + n / self.rate
        return self.free_at


class Settings:
    def __init__(self, rtt: float, up: Link, down: Link, window: int) -> None:
        self.rtt, self.up, self.down, self.window = rtt, up, down, window


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link, s: Settings, open_at: float
) -> None:
    """Forward one direction: read, wait for window space, hold ``rtt/2`` (plus the link's queue), write."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    state = {"inflight": 0}
    space = asyncio.Event()

    def ack(n: int) -> None:
        state["inflight"] -= n
        space.set()

    async def send() -> None:
        while True:
            at, data = await queue.get()
            if not data:
                break
            if (wait := at - loop.time()) > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
            loop.call_later(s.rtt / 2, ack, len(data))  # the acknowledgement travels back
        if writer.can_write_eof():
            writer.write_eof()

    sender = asyncio.create_task(send())
    try:
        while data := await reader.read(CHUNK):
            while state["inflight"] and state["inflight"] + len(data) > s.window:
                space.clear()
                await space.wait()
            state["inflight"] += len(data)
            # nothing leaves before the handshake's round trip is over (``open_at``)
            queue.put_nowait((max(link.depart(loop.time(), len(data)), open_at) + s.rtt / 2, data))
    finally:
        queue.put_nowait((0.0, b""))
        await sender


async def _handle(
    client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, upstream: tuple[str, int], s: Settings
) -> None:
    open_at = asyncio.get_running_loop().time() + s.rtt  # when the client's connect() would return
    try:
        server_r, server_w = await asyncio.open_connection(*upstream)
    except OSError:
        client_w.close()
        return
    try:
        await asyncio.gather(_pump(client_r, server_w, s.up, s, open_at), _pump(server_r, client_w, s.down, s, open_at))
    except (ConnectionError, OSError):
        pass
    finally:
        for w in (server_w, client_w):
            w.close()
            with contextlib.suppress(ConnectionError, OSError):
                await w.wait_closed()


async def serve(upstream: tuple[str, int], rtt_ms: float, mbit: float, window_kib: int, port: int = 0) -> None:
    rate = mbit * 1e6 / 8
    s = Settings(rtt_ms / 1000, Link(rate), Link(rate), window_kib << 10)
    server = await asyncio.start_server(lambda r, w: _handle(r, w, upstream, s), "127.0.0.1", port)
    host, bound = server.sockets[0].getsockname()[:2]
    print(f"listening on {host}:{bound}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--upstream", required=True, help="HOST:PORT of the server")
    p.add_argument("--rtt-ms", type=float, default=0.0, help="round-trip delay added (default 0)")
    p.add_argument("--mbit", type=float, default=1000.0, help="bandwidth cap per direction, Mbit/s (0: none)")
    p.add_argument("--window-kib", type=int, default=4096, help="unacknowledged bytes per connection (default 4096)")
    p.add_argument("--port", type=int, default=0, help="listen port on 127.0.0.1 (default: a free one)")
    args = p.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve((host, int(port)), args.rtt_ms, args.mbit, args.window_kib, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
