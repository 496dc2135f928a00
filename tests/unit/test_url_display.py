"""The display form of a storage URL carries no credentials, whatever characters the secret holds."""

from __future__ import annotations

import pytest

from storage_backends import display_url

SECRET = "wJalr/XUtnFEMI+K7MDENG@bPxRfiCY"  # AWS secret keys hold "/" and "+"; "@" unescaped too


@pytest.mark.parametrize("secret", [SECRET, "plain", "with/slash", "a@b"])
def test_endpoint_userinfo_is_stripped(secret: str) -> None:
    shown = display_url(f"s3://bucket/prefix?endpoint=http://AKIAEXAMPLE:{secret}@10.0.0.1:9000&path_style=true")
    assert "AKIAEXAMPLE" not in shown and secret not in shown, shown
    assert "endpoint=http://10.0.0.1:9000" in shown and "path_style=true" in shown, shown
