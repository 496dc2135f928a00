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


@pytest.mark.parametrize(
    "name",
    [
        "aws_secret_access_key",
        "sse_customer_key",
        "api_key",
        "X-Amz-Signature",
        "Password",
        "session_token",
        "sig_secret",
        "passphrase",
        "pass",
        "passwd",
        "pwd",
        "auth",
        "Authorization",
        "private_key_pem",
        "sig",
    ],
)
def test_parameters_named_like_credentials_are_not_shown(name: str) -> None:
    """No backend takes a credential from the query, but one put there (by a user guessing) must not be
    printed in 'created drkit repository at …' or in an error line."""
    shown = display_url(f"s3://bucket/p?endpoint=http://10.0.0.1:9000&{name}={SECRET}&kms_key_id=alias/k&region=eu")
    assert SECRET not in shown and name not in shown, shown
    assert "kms_key_id=alias/k" in shown and "region=eu" in shown, shown
