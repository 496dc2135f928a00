"""POSIX ACLs in a tar dump: the kernel's xattr form as getfacl's short text (GNU tar's ``SCHILY.acl.*``)."""

from __future__ import annotations

from drkit.sources.files.dump import acl_text

# `setfacl -m u:1234:r FILE` on a 0644 file, as `getfattr -e hex -n system.posix_acl_access` prints it
RAW = bytes.fromhex("0200000001000600ffffffff02000400d204000004000400ffffffff10000400ffffffff20000400ffffffff")


def test_acl_text() -> None:
    assert acl_text(RAW) == "user::rw-,user:1234:r--,group::r--,mask::r--,other::r--"


def test_malformed_acl_is_none() -> None:
    assert acl_text(RAW[:-1]) is None
    assert acl_text(b"\x01\x00\x00\x00") is None  # unknown version
    assert acl_text(RAW[:4] + b"\x40\x00\x07\x00\x00\x00\x00\x00") is None  # unknown tag
