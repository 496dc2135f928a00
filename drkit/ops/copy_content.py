"""Re-writing a snapshot's content into another repository.

Blob ids are keyed hashes and chunk boundaries depend on a per-repository secret seed, so nothing can
be copied as stored bytes: every stream (and every file of a tree) is read through the source, where
each blob is verified, and written through the target's ``BlobWriter``, which re-chunks it with the
target's parameters, re-hashes it with the target's key, re-encrypts it, and stores only the blobs the
target lacks. Tree blobs are rebuilt bottom-up with the new ids. Within one run, a tree or a file's
content list already converted is reused (unchanged directories shared by successive snapshots).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, cast

from ..core.errors import IntegrityError, UsageError
from ..repository.pack import BLOB_TREE
from ..repository.repo import Repository
from ..repository.runs import iter_blobs
from ..repository.streams import iter_stream_ids, store_refs
from ..repository.writer import BlobRef, BlobWriter
from ..sources.files.diff import load_tree
from ..sources.files.tree import DIR, FILE, encode_tree


class _BlobStream(io.RawIOBase):
    """The concatenated plaintext of verified source blobs, as a readable stream."""

    def __init__(self, chunks: Iterable[bytes], progress: Callable[[int], None] | None = None) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buf = memoryview(b"")
        self._progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            nxt = next(self._chunks, None)
            if nxt is None:
                return 0
            if self._progress is not None:
                self._progress(len(nxt))
            self._buf = memoryview(nxt)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


class ContentCopier:
    """Converts snapshot roots of ``source`` into roots of the target that ``writer`` writes to.

    ``progress`` is told the content bytes covered: those read, and those of a file or directory converted
    earlier in the run and reused; they add up to ``content_bytes`` of the roots (copy_progress.py)."""

    def __init__(self, source: Repository, writer: BlobWriter, progress: Callable[[int], None] | None = None) -> None:
        self.source = source
        self.writer = writer
        self.progress = progress
        self._trees: dict[str, tuple[str, int]] = {}  # source tree id → (target tree id, file bytes under it)
        self._files: dict[tuple[str, ...], list[str]] = {}

    def _write(self, ids: Iterable[bytes]) -> list[BlobRef]:
        """Re-chunk and store the concatenation of the source blobs ``ids``."""
        stream = _BlobStream(iter_blobs(self.source, ids), self.progress)
        return self.writer.write_stream(cast(BinaryIO, io.BufferedReader(stream)))

    def _covered(self, n: int) -> None:
        if self.progress is not None and n:
            self.progress(n)

    def stream(self, root: dict[str, Any]) -> dict[str, Any]:
        refs = self._write(iter_stream_ids(self.source, root))
        size = sum(r.length for r in refs)
        if size != root["size"]:
            raise IntegrityError(f"stream holds {size} bytes, its root says {root['size']}")
        return {"type": "stream", "lists": store_refs(self.writer, refs), "size": size}

    def tree(self, tree_id: str) -> str:
        return self._tree(tree_id)[0]

    def _tree(self, tree_id: str) -> tuple[str, int]:
        if tree_id in self._trees:
            self._covered(self._trees[tree_id][1])
            return self._trees[tree_id]
        nodes = load_tree(self.source, tree_id)
        covered = 0
        for node in nodes:
            if node.type == FILE and node.content:
                node.content = self._file(node.content, node.size)
                covered += node.size
            elif node.type == DIR and node.subtree:
                node.subtree, below = self._tree(node.subtree)
                covered += below
        self._trees[tree_id] = (self.writer.add_blob(BLOB_TREE, encode_tree(nodes)).hex(), covered)
        return self._trees[tree_id]

    def _file(self, content: list[str], size: int) -> list[str]:
        key = tuple(content)
        if key in self._files:
            self._covered(size)
        else:
            self._files[key] = [r.id.hex() for r in self._write(bytes.fromhex(h) for h in content)]
        return self._files[key]

    def root(self, root: dict[str, Any], snapshot: str) -> dict[str, Any]:
        kind = root.get("type")
        if kind == "stream":
            return self.stream(root)
        if kind == "bundle":
            return {"type": "bundle", "parts": {name: self.stream(part) for name, part in root["parts"].items()}}
        if kind == "tree":
            return {**root, "tree": self.tree(root["tree"])}
        raise UsageError(f"snapshot {snapshot[:8]}: cannot copy a {kind!r} root")
