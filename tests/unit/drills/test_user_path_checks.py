"""`{path_exists: …}` checks look inside the restored tree only: a `..` or a restored symlink that
leads to a host file must not make a missing entry pass."""

from __future__ import annotations

from pathlib import Path

from drkit.config.models import PathCheck
from drkit.drills.verify.user import verify_user_checks


def _ok(root: Path, path: str) -> bool:
    (result,) = verify_user_checks([PathCheck(path_exists=path)], root=root)
    return result.ok


def test_path_checks_stay_inside_the_restored_tree(tmp_path: Path) -> None:
    root = tmp_path / "restored"
    (root / "data" / "sub").mkdir(parents=True)
    (root / "data" / "sub" / "f").write_text("x")
    (root / "data" / "inner").symlink_to("sub/f")
    (root / "data" / "etc").symlink_to("/etc")
    (tmp_path / "outside").write_text("host file")
    assert _ok(root, "data/sub/f") and _ok(root, "/data/sub/f") and _ok(root, "data/inner")
    assert not _ok(root, "data/missing")
    assert not _ok(root, "data/etc/hostname") and not _ok(root, "data/etc/passwd")  # the host's, not restored
    assert not _ok(root, "../outside") and not _ok(root, "data/../../outside")
