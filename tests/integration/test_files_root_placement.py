"""Where a restore puts a backed-up path. `backup files /srv/data` restores as TARGET/data (each path one
top-level entry named by its last component, docs/files.md). `backup files /` has no last component: it was
stored as `root` and restored as TARGET/root/etc (listed as /root/etc, root's home directory to a reader),
not where a system restore puts it. A snapshot of / alone now reads from inside that entry: TARGET/etc,
`ls` /etc, as restic restores it. The backup of / here selects one small tree by excluding every other
entry on the way down; rsync compares the restore with the source."""

from __future__ import annotations

import json
import os
from pathlib import Path

from clirun import drkit
from treediff import rsync_diff

ENV = {"DRKIT_PASSWORD": "pw-for-root-placement"}


def _ok(*args: str) -> str:
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def _tree(src: Path) -> None:
    (src / "etc" / "ssh").mkdir(parents=True)
    (src / "etc" / "ssh" / "sshd_config").write_bytes(os.urandom(2000))
    (src / "etc" / "hostname").write_text("db1\n")
    os.symlink("ssh/sshd_config", src / "etc" / "link")


def _only(src: Path) -> list[str]:
    """Excludes that leave, of /, only the directories down to ``src`` and ``src`` itself."""
    excludes, here = [], Path("/")
    for part in src.parts[1:]:
        excludes += [f"--exclude={here / name}" for name in sorted(os.listdir(here)) if name != part]
        here = here / part
    return excludes


def test_a_backup_of_root_restores_under_the_target_as_under_root(tmp_path: Path) -> None:
    repo, src, target = str(tmp_path / "repo"), tmp_path / "src", tmp_path / "t"
    _tree(src)
    _ok("init", "--repo", repo)
    _ok("backup", "files", "/", *_only(src), "--repo", repo)
    _ok("restore", "latest", "--target", str(target), "--repo", repo)
    first = src.parts[1]  # `tmp` for /tmp/…: the restore holds / as the target
    assert sorted(os.listdir(target)) == [first], os.listdir(target)
    assert rsync_diff(src, target / src.relative_to("/")) == []
    assert f"{src}/etc/hostname" in _ok("ls", "latest", "--repo", repo).splitlines()
    assert _ok("dump", "latest", f"{src}/etc/hostname", "--repo", repo) == "db1\n"


def test_a_backup_of_a_directory_restores_as_its_last_component(tmp_path: Path) -> None:
    repo, src, target = str(tmp_path / "repo"), tmp_path / "srv" / "data", tmp_path / "t"
    _tree(src)
    _ok("init", "--repo", repo)
    _ok("backup", "files", str(src), "--repo", repo)
    _ok("restore", "latest", "--target", str(target), "--repo", repo)
    assert sorted(os.listdir(target)) == ["data"]
    assert rsync_diff(src, target / "data") == []


def test_diff_of_root_alone_and_root_with_another_path_names_what_changed(tmp_path: Path) -> None:
    """`/` alone is seen from inside, `/` with other paths as the entry `root`: a diff between the two must
    not read as the whole tree removed and added again under /root, only the path backed up beside it."""
    repo, src, other = str(tmp_path / "repo"), tmp_path / "src", tmp_path / "other"
    _tree(src)
    other.mkdir()
    (other / "f").write_text("beside /\n")
    _ok("init", "--repo", repo)
    excludes = [e for e in _only(src) if e != f"--exclude={other}"]
    alone = json.loads(_ok("backup", "files", "/", *excludes, "--repo", repo, "--json"))["snapshot"]
    both = json.loads(_ok("backup", "files", "/", str(other), *excludes, "--repo", repo, "--json"))["snapshot"]
    changes = json.loads(_ok("diff", alone, both, "--repo", repo, "--json"))
    assert changes == [{"change": "+", "path": "/other"}, {"change": "+", "path": "/other/f"}], changes
