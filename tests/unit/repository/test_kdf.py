"""The key objects' KDF (Argon2id from ``cryptography``) gives the same bytes as argon2-cffi, which drkit used
before: every key object written by an older drkit opens unchanged (the legacy repository in
tests/adversarial/data/ too), and parameters the KDF refuses are a malformed key object, not a crash."""

from __future__ import annotations

import json
import os

import pytest
from argon2.low_level import Type, hash_secret_raw

from drkit.core.errors import IntegrityError
from drkit.repository.keys import KdfParams, MasterKey, _derive, unwrap_master_key, wrap_master_key


@pytest.mark.parametrize(("t", "m", "p"), [(1, 8, 1), (3, 256, 1), (2, 1024, 4), (1, 64, 8), (3, 65536, 2)])
def test_same_bytes_as_argon2_cffi(t: int, m: int, p: int) -> None:
    salt = os.urandom(16)
    for passphrase in ("pw", "correct horse battery staple", "ünïcødé ✓"):
        expected = hash_secret_raw(
            passphrase.encode(), salt, time_cost=t, memory_cost=m, parallelism=p, hash_len=32, type=Type.ID
        )
        assert _derive(passphrase, salt, KdfParams(time_cost=t, memory_kib=m, parallelism=p)) == expected


def test_a_key_object_wrapped_by_argon2_cffi_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key object whose KEK came from argon2-cffi (the old code path) opens with the new KDF."""
    import drkit.repository.keys as keys

    def old_derive(passphrase: str, salt: bytes, params: KdfParams) -> bytes:
        return hash_secret_raw(
            passphrase.encode(),
            salt,
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=32,
            type=Type.ID,
        )

    master = MasterKey.generate()
    with monkeypatch.context() as m:
        m.setattr(keys, "_derive", old_derive)
        wrapped = wrap_master_key(master, "pw", KdfParams(time_cost=1, memory_kib=64, parallelism=1))
    opened = unwrap_master_key(wrapped, "pw")
    assert opened is not None and opened.encryption == master.encryption and opened.blob_id == master.blob_id
    assert unwrap_master_key(wrapped, "wrong") is None


def test_refused_parameters_are_a_malformed_key_object() -> None:
    """Memory under 8 KiB per lane: refused by the KDF, reported as a malformed key object (exit 13)."""
    wrapped = wrap_master_key(MasterKey.generate(), "pw", KdfParams(time_cost=1, memory_kib=64, parallelism=1))
    doc = json.loads(wrapped)
    doc["kdf_params"]["p"] = 16  # 64 KiB for 16 lanes: under the minimum of 8 KiB each
    with pytest.raises(IntegrityError, match="malformed"):
        unwrap_master_key(json.dumps(doc).encode(), "pw")


def _no_argon2id(*args: object, **kwargs: object) -> None:
    from cryptography.exceptions import UnsupportedAlgorithm

    raise UnsupportedAlgorithm("This version of OpenSSL does not support argon2id")


def test_cryptography_without_argon2id_falls_back_to_argon2_cffi(monkeypatch: pytest.MonkeyPatch) -> None:
    """cryptography built on OpenSSL < 3.2 (or in FIPS mode) has no Argon2id: argon2-cffi, when installed,
    gives the same key (repositories keep opening); before, every open was an internal error."""
    import drkit.repository.keys as keys

    master = MasterKey.generate()
    wrapped = wrap_master_key(master, "pw", KdfParams(time_cost=1, memory_kib=64, parallelism=1))
    monkeypatch.setattr(keys, "Argon2id", _no_argon2id)
    opened = unwrap_master_key(wrapped, "pw")
    assert opened is not None and opened.encryption == master.encryption
    assert unwrap_master_key(wrapped, "wrong") is None


def test_cryptography_without_argon2id_nor_argon2_cffi_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import drkit.repository.keys as keys
    from drkit.core.errors import DrkitError

    wrapped = wrap_master_key(MasterKey.generate(), "pw", KdfParams(time_cost=1, memory_kib=64, parallelism=1))
    monkeypatch.setattr(keys, "Argon2id", _no_argon2id)
    monkeypatch.setitem(sys.modules, "argon2.low_level", None)  # `import` raises ImportError
    with pytest.raises(DrkitError, match="no Argon2id") as caught:
        unwrap_master_key(wrapped, "pw")
    assert type(caught.value) is DrkitError and caught.value.exit_code == 1
    assert caught.value.hint is not None and "argon2-cffi" in caught.value.hint
