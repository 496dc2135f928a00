"""Tree blob encoding, name validation and exclude patterns."""

from __future__ import annotations

import pytest

from drkit.core.errors import IntegrityError
from drkit.sources.files import Excludes, Node
from drkit.sources.files.tree import decode_tree, encode_tree


def test_tree_round_trip_sorted_and_escaped() -> None:
    nodes = [
        Node(name="b", type="file", mode=0o644, content=["00" * 32]),
        Node(name="a\udcff", type="dir", subtree="11" * 32),
    ]
    decoded = decode_tree(encode_tree(nodes), "t")
    assert [n.name for n in decoded] == ["a\udcff", "b"]
    assert decoded[1].content == ["00" * 32] and decoded[1].mode == 0o644
    assert encode_tree(nodes) == encode_tree(list(reversed(nodes)))  # deterministic: dedups


@pytest.mark.parametrize("name", ["", ".", "..", "../etc", "a/b", "/abs", "nul\x00", 5])
def test_unsafe_names_are_refused(name: object) -> None:
    data = b'{"nodes":[{"name":%s,"type":"file"}]}' % __import__("json").dumps(name).encode()
    with pytest.raises(IntegrityError, match="unsafe entry name"):
        decode_tree(data, "t")


def test_duplicate_names_and_bad_types_are_refused() -> None:
    with pytest.raises(IntegrityError, match="duplicate"):
        decode_tree(b'{"nodes":[{"name":"a","type":"file"},{"name":"a","type":"dir"}]}', "t")
    with pytest.raises(IntegrityError, match="node type"):
        decode_tree(b'{"nodes":[{"name":"a","type":"door"}]}', "t")
    with pytest.raises(IntegrityError, match="malformed"):
        decode_tree(b"not json", "t")


@pytest.mark.parametrize("node_type", [["file"], {"file": 1}, 5, None])
def test_a_node_type_not_a_string_is_refused_not_a_crash(node_type: object) -> None:
    """A crafted tree whose ``type`` is a list or object ended as ``TypeError: unhashable type`` (an
    internal error, exit 1) instead of an IntegrityError (exit 13)."""
    data = b'{"nodes":[{"name":"a","type":%s}]}' % __import__("json").dumps(node_type).encode()
    with pytest.raises(IntegrityError, match="unknown node type"):
        decode_tree(data, "t")


def test_excludes_match_names_and_paths(tmp_path) -> None:  # type: ignore[no-untyped-def]
    listed = tmp_path / "ex"
    listed.write_text("# comment\n*.tmp\n\n/srv/data/cache\n")
    ex = Excludes.load(["node_modules"], [listed])
    assert ex.match("/x/node_modules", "node_modules")
    assert ex.match("/x/a.tmp", "a.tmp")
    assert ex.match("/srv/data/cache", "cache") and ex.match("/srv/data/cache/x", "x")
    assert not ex.match("/srv/data/cachex", "cachex")
    assert not ex.match("/x/a.txt", "a.txt")


def test_relative_excludes_match_the_end_of_a_path_and_say_what_matched_nothing(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    ex = Excludes.load(["src/d1", "./src/d2", "*.tmp", "never/x"])
    assert ex.match("/home/u/src/d1", "d1") and ex.match("/x/src/d1/deep", "deep") and ex.match("/src/d1", "d1")
    assert not ex.match("/home/u/mysrc/d1", "d1")  # whole names
    assert ex.match(f"{tmp_path}/src/d2", "d2") and not ex.match("/elsewhere/src/d2", "d2")  # the working directory
    assert ex.unmatched() == ["*.tmp", "never/x"]  # as given
    assert Excludes.load(["a", "*a"]).match("/x/a", "a")
    both = Excludes.load(["a", "*a"])
    both.match("/x/a", "a")
    assert both.unmatched() == []  # the second matched the same entry: credited too
