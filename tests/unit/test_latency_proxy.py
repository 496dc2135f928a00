"""bench/latency_proxy.py, the latency bench's model of a distant store: it delivers every byte intact,
adds the round trips it claims (a handshake, one per request) and caps a connection at window/RTT. Only
lower bounds on time are asserted (a busy machine makes everything slower, never faster)."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _proxy_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("latency_proxy", ROOT / "bench" / "latency_proxy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["latency_proxy"] = module
    spec.loader.exec_module(module)
    return module


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers each request (a length, then that many bytes) with their sha256."""
    while header := await reader.read(8):
        body = await reader.readexactly(int.from_bytes(header, "big"))
        writer.write(hashlib.sha256(body).digest())
        await writer.drain()
    writer.close()


async def _scenario(rtt_ms: float, window_kib: int, payload: bytes) -> tuple[float, float, bytes]:
    proxy = _proxy_module()
    upstream = await asyncio.start_server(_echo, "127.0.0.1", 0)
    up_port = upstream.sockets[0].getsockname()[1]
    rate = 0.0
    settings = proxy.Settings(rtt_ms / 1000, proxy.Link(rate), proxy.Link(rate), window_kib << 10)
    server = await asyncio.start_server(
        lambda r, w: proxy._handle(r, w, ("127.0.0.1", up_port), settings), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    try:
        start = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write((1).to_bytes(8, "big") + b"x")
        await writer.drain()
        await asyncio.wait_for(reader.readexactly(32), 30)
        first = time.monotonic() - start  # handshake + one request
        start = time.monotonic()
        writer.write(len(payload).to_bytes(8, "big") + payload)
        await writer.drain()
        digest = await asyncio.wait_for(reader.readexactly(32), 60)
        big = time.monotonic() - start
        writer.write_eof()  # the proxy passes the end on, the server closes, the proxy closes both sides
        assert await asyncio.wait_for(reader.read(), 30) == b""
        writer.close()
        await writer.wait_closed()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        await asyncio.wait_for(asyncio.gather(*others), 30)  # the proxy's and the server's handlers end
        return first, big, digest
    finally:
        server.close()
        upstream.close()
        await server.wait_closed()
        await upstream.wait_closed()


def test_the_proxy_adds_round_trips_and_caps_a_connection_at_window_per_rtt() -> None:
    payload = hashlib.shake_256(b"payload").digest(3 << 20)
    first, big, digest = asyncio.run(_scenario(rtt_ms=50, window_kib=256, payload=payload))
    assert digest == hashlib.sha256(payload).digest()  # every byte, in order
    assert first >= 2 * 0.050  # the handshake's round trip, then the request's
    assert big >= (3 << 20) / (256 << 10) * 0.050 * 0.9  # 12 windows, a round trip each
