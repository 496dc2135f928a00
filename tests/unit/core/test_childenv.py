"""Child environments lose drkit's secrets by name and by registered value, keep what is asked."""

from __future__ import annotations

from drkit.core.childenv import child_environ
from drkit.core.log import register_secret

BASE = {
    "PATH": "/usr/bin",
    "DRKIT_PASSWORD": "repo-pass",
    "DRKIT_NEW_PASSWORD": "new-pass",
    "DRKIT_PG_BINDIR": "/usr/lib/postgresql/15/bin",
    "AWS_SECRET_ACCESS_KEY": "s3",
    "AWS_SESSION_TOKEN": "tok",
    "AWS_ACCESS_KEY_ID": "AKIA",
    "GOOGLE_APPLICATION_CREDENTIALS": "/k.json",
    "REDISCLI_AUTH": "r",
    "PGPASSWORD": "db-pass",
    "APP_DB_PW": "childenv-Registered-7e2",
    "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer collector-token",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-api-key=collector-key",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel:4318",
}


def test_secrets_removed_by_name_and_by_registered_value() -> None:
    register_secret("childenv-Registered-7e2")
    env = child_environ(base=BASE)
    assert env == {"PATH": "/usr/bin", "DRKIT_PG_BINDIR": "/usr/lib/postgresql/15/bin"}


def test_keep_and_extra() -> None:
    env = child_environ(base=BASE, keep=("PGPASSWORD",), extra={"PGPASSWORD": "other", "X": "1"})
    assert env["PGPASSWORD"] == "other" and env["X"] == "1"
    assert "DRKIT_PASSWORD" not in env
