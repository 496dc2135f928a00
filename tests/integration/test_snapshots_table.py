"""`drkit snapshots` as a table: the whole source (never cut), tags, host, a time with its zone, and a size
for every kind (a files snapshot's files, a stream's bytes, a bundle's parts)."""

from __future__ import annotations

from pathlib import Path

from clirun import drkit

from drkit.cli.cmd_snapshots import _human, snapshot_size
from drkit.repository.snapshots import Snapshot

ENV = {"DRKIT_PASSWORD": "correct horse"}


def _ok(*args: str, stdin: bytes | None = None) -> str:
    proc = drkit(*args, env=ENV, stdin=stdin)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def test_table_shows_whole_sources_tags_and_sizes(tmp_path: Path) -> None:
    src = tmp_path / "a-rather-long-directory-name-to-back-up" / "src"
    src.mkdir(parents=True)
    (src / "f").write_bytes(b"x" * 3000)
    (src / "g").write_bytes(b"y" * 72)
    repo = str(tmp_path / "repo")
    _ok("init", "--repo", repo)
    _ok("backup", "files", str(src), "--repo", repo, "--tag", "nightly", "--tag", "keep")
    _ok("backup", "stdin", "--name", "dump", "--repo", repo, stdin=b"123456")
    header, files_row, stream_row, footer = _ok("snapshots", "--repo", repo).splitlines()
    assert header.split() == ["ID", "TIME", "HOST", "TAGS", "SOURCE", "SIZE"]
    assert f"files:{src}" in files_row and "nightly,keep" in files_row and files_row.endswith("3.0 KiB")
    assert stream_row.endswith("stdin:dump  6 B") or stream_row.split()[-3:] == ["stdin:dump", "6", "B"]
    assert files_row.split()[1].endswith("Z") and footer == "2 snapshots"


def test_sizes_of_every_root_kind() -> None:
    def snap(root: dict[str, object], stats: dict[str, object] | None = None) -> Snapshot:
        return Snapshot(source_kind="x", source_name="y", root=root, stats=stats or {})

    assert snapshot_size(snap({"type": "stream", "size": 10})) == 10
    assert snapshot_size(snap({"type": "bundle", "parts": {"base": {"size": 5}, "wal": {"size": 7}}})) == 12
    assert snapshot_size(snap({"type": "tree", "tree": "ab"}, {"total_bytes": 99})) == 99
    assert snapshot_size(snap({"type": "tree"})) is None
    assert snapshot_size(snap({"type": "bundle", "parts": {"base": {"size": "x"}}})) is None
    assert [_human(n) for n in (None, 0, 1023, 1024, 1536, 5 << 30)] == [
        "?",
        "0 B",
        "1023 B",
        "1.0 KiB",
        "1.5 KiB",
        "5.0 GiB",
    ]
