"""The restore walk's fast path (``Restorer._admit`` returns an entry ``Privileges.untouched`` passes
without the other checks) must decide exactly what the full checks decide: for every permission bit
pattern, entry type, capability xattr and ``--special-files`` setting, the entry restored and the
warnings given equal those of ``special.expected`` / ``Privileges`` (the oracle, as before the fast
path)."""

from __future__ import annotations

import base64

import pytest

from drkit.repository.repo import Repository
from drkit.sources.files import Policy
from drkit.sources.files.restore import Restorer
from drkit.sources.files.special import SPECIAL_TYPES, Privileges, expected
from drkit.sources.files.tree import DIR, FILE, SYMLINK, Node

CAP = {"security.capability": base64.b64encode(b"\x01\x00\x00\x02").decode()}
USER = {"user.k": base64.b64encode(b"v").decode()}


@pytest.mark.parametrize("keep", [False, True])
def test_fast_path_agrees_with_the_privilege_checks(repo: Repository, keep: bool) -> None:
    restorer = Restorer(repo=repo, target="/nonexistent", policy=Policy(special_files=keep))
    privileges = Privileges(keep=keep)
    for kind in (FILE, DIR, SYMLINK, *SPECIAL_TYPES):
        for xattrs in ({}, USER, CAP):
            for mode in range(0o10000):
                node = Node(name="n", type=kind, mode=mode, xattrs=dict(xattrs))
                before = len(restorer.stats.warnings)
                got = restorer._admit("n", node)
                warned = len(restorer.stats.warnings) > before
                want = expected(node, privileges)
                oracle_warns = privileges.skipped(node) is not None or privileges.restricted(node) is not None
                assert (got, warned) == (want, oracle_warns), (kind, oct(mode), xattrs)
