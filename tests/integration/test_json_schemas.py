"""`--json` documents (issue #26): the keys docs/usage.md gives for each command are exactly the keys the command
prints (read from the docs table, so the documentation cannot drift from the code), and `restore SNAPSHOT --to
FILE --json` prints its document (it accepted --json and printed none); `--to - --json` is refused (exit 2)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from clirun import drkit, one_line_error

ENV = {"DRKIT_PASSWORD": "schemas", "DRKIT_FROM_PASSWORD": "schemas"}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "usage.md"


def _documented() -> dict[str, set[str]]:
    """Command cell → the quoted names of the first code span of the `--json prints` cell."""
    table = DOCS.read_text().split("| command | `--json` prints |", 1)[1].split("\n\n", 1)[0]
    found = {}
    for row in table.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        span = re.search(r"`([\[{][^`]*)`", cells[1]) if len(cells) > 1 else None
        if span:
            found[cells[0]] = set(re.findall(r'"([a-z_]+)"', span.group(1)))
    return found


def _json(*args: str, stdin: bytes | None = None) -> Any:
    proc = drkit(*args, "--json", env=ENV, stdin=stdin)
    assert proc.returncode == 0, proc.stderr.decode()
    doc = json.loads(proc.stdout)
    return doc[0] if isinstance(doc, list) else doc


def test_documented_keys_are_the_printed_keys(tmp_path: Path) -> None:
    repo, other, src = str(tmp_path / "repo"), str(tmp_path / "other"), tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a\n")
    r = ("--repo", repo)
    printed = {"`init`": _json("init", *r)}
    first = _json("backup", "files", str(src), *r)
    (src / "a").write_text("changed\n")
    printed["`backup files`"] = second = _json("backup", "files", str(src), *r)
    printed["`backup stdin`"] = _json("backup", "stdin", "--name", "s", *r, stdin=b"bytes\n")
    printed["`snapshots`"] = _json("snapshots", *r)
    printed["`ls SNAPSHOT [PATH]`"] = _json("ls", second["snapshot"], *r)
    printed["`backends list`"] = _json("backends", "list")
    printed["`restore SNAPSHOT --to FILE`"] = _json(
        "restore", "latest", "--source", "stdin", "--to", str(tmp_path / "s.bin"), *r
    )
    assert (tmp_path / "s.bin").read_bytes() == b"bytes\n"
    printed["`restore files`, `restore SNAPSHOT --target DIR`"] = _json(
        "restore", "files", second["snapshot"], "--target", str(tmp_path / "out"), *r
    )
    printed["`check`"] = _json("check", *r)
    printed["`diff A B`"] = _json("diff", first["snapshot"], second["snapshot"], *r)
    printed["`forget`"] = _json("forget", "--keep-last", "5", *r)
    printed["`prune`"] = _json("prune", *r)
    assert drkit("init", "--repo", other, env=ENV).returncode == 0
    printed["`copy`"] = _json("copy", "--from-repo", repo, "--to-repo", other)
    printed["`repair index`"] = _json("repair", "index", "--dry-run", *r)
    printed["`repair snapshots`"] = _json("repair", "snapshots", "--dry-run", *r)
    documented = _documented()
    for command, doc in printed.items():
        assert set(doc) == documented[command], command


def test_restore_to_standard_output_refuses_json(tmp_path: Path) -> None:
    repo = str(tmp_path / "repo")
    assert drkit("init", "--repo", repo, env=ENV).returncode == 0
    assert drkit("backup", "stdin", "--name", "s", "--repo", repo, env=ENV, stdin=b"x").returncode == 0
    proc = drkit("restore", "latest", "--to", "-", "--json", "--repo", repo, env=ENV)
    assert proc.returncode == 2 and proc.stdout == b"" and "--json needs --to FILE" in one_line_error(proc)
