"""What `latest` takes for one source (``snapshots.source_of``): a files backup named by its paths is one
source per host (two hosts' /etc are two trees), a named one (a job, `--name`) one whichever host ran it (a
CronJob's pod gets a new host name every run)."""

from __future__ import annotations

import pytest

from drkit.core.errors import UsageError
from drkit.repository.snapshots import Snapshot, refuse_several_sources


def _files(name: str, paths: list[str], host: str) -> Snapshot:
    return Snapshot(source_kind="files", source_name=name, root={"type": "tree", "paths": paths}, host=host)


def test_two_hosts_backing_up_the_same_unnamed_path_are_two_sources() -> None:
    with pytest.raises(UsageError, match="2 sources.*files:/etc on b.*files:/etc on a") as info:
        refuse_several_sources([_files("/etc", ["/etc"], "a"), _files("/etc", ["/etc"], "b")], "latest")
    assert info.value.exit_code == 2
    assert "--host" in (info.value.hint or "")


def test_a_named_source_is_one_whichever_host_ran_it() -> None:
    refuse_several_sources([_files("job", ["/data"], "pod-1"), _files("job", ["/data"], "pod-2")], "latest")


def test_one_unnamed_source_of_one_host_is_not_ambiguous() -> None:
    refuse_several_sources([_files("/a,/b", ["/a", "/b"], "h"), _files("/a,/b", ["/a", "/b"], "h")], "latest")


def test_two_names_or_two_kinds_are_two_sources() -> None:
    stream = Snapshot(source_kind="stdin", source_name="job", root={"type": "stream"}, host="h")
    with pytest.raises(UsageError, match="ambiguous"):
        refuse_several_sources([_files("job", ["/data"], "h"), stream], "latest")
    with pytest.raises(UsageError, match="ambiguous"):
        refuse_several_sources([_files("/a", ["/a"], "h"), _files("/b", ["/b"], "h")], "latest")
