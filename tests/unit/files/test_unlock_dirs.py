"""A restore not run as root opens an existing read-only directory of ours while it works in it
(``existing.unlock_dir``) and puts its mode back after (``existing.relock``). Both act on that very
directory, by descriptor: a symlink (or another directory) put at its name meanwhile is never followed
nor chmodded. Before, ``relock`` chmodded by path: a directory swapped for a symlink to another of the
user's directories gave that one the recorded mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from drkit.sources.files import existing


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_directory_is_opened_then_given_its_mode_back(tmp_path: Path) -> None:
    d = tmp_path / "ro"
    d.mkdir(mode=0o555)
    d.chmod(0o555)
    unlocked: existing.Unlocked = {}
    existing.unlock_dir(str(d), unlocked)
    assert _mode(d) == 0o755
    existing.relock(unlocked)
    assert _mode(d) == 0o555


def test_a_directory_swapped_for_a_symlink_is_not_followed_by_relock(tmp_path: Path) -> None:
    d, moved, victim = tmp_path / "ro", tmp_path / "ro-moved", tmp_path / "private"
    d.mkdir()
    d.chmod(0o057)
    victim.mkdir()
    victim.chmod(0o700)
    unlocked: existing.Unlocked = {}
    existing.unlock_dir(str(d), unlocked)
    assert _mode(d) == 0o757
    os.rename(d, moved)
    d.symlink_to(victim)
    existing.relock(unlocked)
    assert _mode(victim) == 0o700  # was 0o057: open to everyone
    d.unlink()
    other = d  # another directory at the name: not the one opened, left alone
    other.mkdir()
    other.chmod(0o700)
    existing.relock(unlocked)
    assert _mode(other) == 0o700


def test_a_symlink_to_a_directory_is_not_opened(tmp_path: Path) -> None:
    victim, link = tmp_path / "private", tmp_path / "link"
    victim.mkdir()
    victim.chmod(0o500)
    link.symlink_to(victim)
    unlocked: existing.Unlocked = {}
    existing.unlock_dir(str(link), unlocked)
    assert unlocked == {} and _mode(victim) == 0o500
