"""The pieces of `backup files` selection that parse input: sizes, marker specs, path lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from drkit.cli.params import SIZE
from drkit.core.errors import UsageError
from drkit.sources.files.markers import CACHEDIR, Marker, kept_names
from drkit.sources.files.pathlist import GLOBBED, RAW, VERBATIM, read_paths


@pytest.mark.parametrize(
    ("text", "size"), [("0", 0), ("512", 512), ("100k", 100 << 10), ("2M", 2 << 20), ("3g", 3 << 30), ("1T", 1 << 40)]
)
def test_sizes(text: str, size: int) -> None:
    assert SIZE.convert(text, None, None) == size


@pytest.mark.parametrize("text", ["", "k", "1.5m", "-1", "10x", "1kb"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(UsageError, match="is not a size"):
        SIZE.convert(text, None, None)


def test_marker_specs_and_matching(tmp_path: Path) -> None:
    assert Marker.parse(".nobackup") == Marker(".nobackup")
    assert Marker.parse("TAG:Sig: x:y") == Marker("TAG", b"Sig: x:y")
    for bad in ("", ":head", "a/b", ".."):
        with pytest.raises(UsageError):
            Marker.parse(bad)
    (tmp_path / "CACHEDIR.TAG").write_bytes(b"Signature: 8a477f597d28d172789f06886806bc55")
    (tmp_path / "other").write_text("x")
    names = ["CACHEDIR.TAG", "other"]
    assert kept_names((CACHEDIR,), str(tmp_path), names) == ["CACHEDIR.TAG"]
    (tmp_path / "CACHEDIR.TAG").write_bytes(b"Signature: 8a477f597d28d172789f06886806bc5")  # one byte short
    assert kept_names((CACHEDIR,), str(tmp_path), names) == names
    (tmp_path / "CACHEDIR.TAG").unlink()
    (tmp_path / "CACHEDIR.TAG").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").write_bytes(b"Signature: 8a477f597d28d172789f06886806bc55")
    assert kept_names((CACHEDIR,), str(tmp_path), names) == names  # a symlink does not mark
    assert kept_names((Marker("other"),), str(tmp_path), names) == ["other"]


def test_path_lists(tmp_path: Path) -> None:
    (tmp_path / "a1").touch()
    (tmp_path / ".a2").touch()
    (tmp_path / "b").touch()
    listing = tmp_path / "list"
    listing.write_bytes(f"# comment\n\n  {tmp_path}/*[12]  \r\n{tmp_path}/b\n".encode())
    assert read_paths(listing, GLOBBED) == [f"{tmp_path}/.a2", f"{tmp_path}/a1", f"{tmp_path}/b"]
    listing.write_bytes(b"# not a comment\n  spaced \n\nraw\xff\n")
    assert read_paths(listing, VERBATIM) == ["# not a comment", "  spaced ", "raw\udcff"]
    listing.write_bytes(b"new\nline\0\0second\0")
    assert read_paths(listing, RAW) == ["new\nline", "second"]
    with pytest.raises(UsageError, match="cannot read"):
        read_paths(tmp_path / "missing", GLOBBED)
