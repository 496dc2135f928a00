"""Reading the slot map from ``CLUSTER NODES`` text: masters with slots, in slot order; a failed
master or a slot being migrated is an error (no snapshot of a part of the data)."""

from __future__ import annotations

import pytest

from drkit.sources.redis.cluster import Master, parse_nodes
from drkit.sources.redis.errors import RedisSourceError

A = "a" * 40
B = "b" * 40
C = "c" * 40
R = "d" * 40


def line(node_id: str, addr: str, flags: str, slots: str, master: str = "-", link: str = "connected") -> str:
    return f"{node_id} {addr} {flags} {master} 0 1796608294570 2 {link} {slots}".rstrip()


def test_masters_in_slot_order_replicas_and_empty_masters_skipped() -> None:
    text = "\n".join(
        [
            line(B, "10.0.0.2:7001@17001,redis-b", "master", "5461-10922"),
            line(A, ":7000@17000", "myself,master", "0-5460"),
            line(R, "10.0.0.4:7003@17003", "slave", "", master=A),
            line(C, "10.0.0.3:7002@17002", "master", "10923-16000 16383 16001-16382"),
            line("e" * 40, "10.0.0.5:7004@17004", "master", ""),
        ]
    )
    assert parse_nodes(text, "seed.example") == [
        Master(A, "seed.example", 7000, ((0, 5460),)),
        Master(B, "10.0.0.2", 7001, ((5461, 10922),)),
        Master(C, "10.0.0.3", 7002, ((10923, 16000), (16001, 16382), (16383, 16383))),
    ]


@pytest.mark.parametrize(
    ("flags", "link"), [("master,fail", "connected"), ("master,fail?", "connected"), ("master", "disconnected")]
)
def test_a_failed_master_is_an_error(flags: str, link: str) -> None:
    text = line(A, "10.0.0.1:7000@17000", flags, "0-16383", link=link)
    with pytest.raises(RedisSourceError, match="no snapshot written"):
        parse_nodes(text, "h")


def test_a_slot_in_migration_is_an_error() -> None:
    text = line(A, "10.0.0.1:7000@17000", "master", f"0-16382 [16383->-{B}]")
    with pytest.raises(RedisSourceError, match="slot 16383 .* is being migrated"):
        parse_nodes(text, "h")
