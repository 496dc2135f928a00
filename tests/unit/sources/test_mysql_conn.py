"""The MySQL login: URL parsing, and the option file that carries the password instead of argv --
private (0600 in a 0700 directory), quoting any character, and removed after use."""

from __future__ import annotations

import stat

import pytest

from drkit.core.errors import UsageError
from drkit.sources.mysql.conn import MysqlConn, option_file, password_from
from drkit.sources.mysql.errors import MysqlError


def test_url_parts() -> None:
    conn = MysqlConn.from_url("mysql://backup@db.internal:3307/shop")
    assert (conn.user, conn.host, conn.port, conn.database, conn.socket) == (
        "backup",
        "db.internal",
        3307,
        "shop",
        None,
    )
    sock = MysqlConn.from_url("mariadb://root@localhost/?socket=/run/mysqld/mysqld.sock")
    assert sock.socket == "/run/mysqld/mysqld.sock" and sock.database is None
    assert sock.display == "root@socket /run/mysqld/mysqld.sock"


@pytest.mark.parametrize("url", ["postgres://x@db/shop", "mysql://u:secret@db/shop"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(MysqlError) as err:
        MysqlConn.from_url(url)
    assert "secret" not in err.value.message


def test_option_file_is_private_and_removed() -> None:
    password = 'p"a\\ss #;word'
    conn = MysqlConn.from_url("mysql://backup@db/shop").with_password(password)
    assert password not in repr(conn)
    with option_file(conn) as path:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        text = path.read_text()
        assert 'password="p\\"a\\\\ss #;word"' in text and 'user="backup"' in text
    assert not path.exists() and not path.parent.exists()


def test_line_break_in_a_login_value_is_refused() -> None:
    conn = MysqlConn.from_url("mysql://backup@db/shop").with_password("a\nhost=evil")
    with pytest.raises(MysqlError), option_file(conn):
        pass


def test_password_sources(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    file = tmp_path / "pw"
    file.write_text("from-file\nignored\n")
    monkeypatch.setenv("DRKIT_MYSQL_PASSWORD", "from-env")
    assert password_from(file) == "from-file"
    assert password_from() == "from-env"
    monkeypatch.setenv("SHOP_PW", "named")
    assert password_from(None, "SHOP_PW") == "named"


def test_config_password_env_that_is_unset_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from drkit.sources.mysql.plugin import MysqlSource

    monkeypatch.delenv("SHOP_PW_UNSET", raising=False)
    source = MysqlSource(kind="mysql", url="mysql://backup@db/shop", password_env="SHOP_PW_UNSET")
    with pytest.raises(UsageError) as err:
        source.conn()
    assert err.value.exit_code == 2 and "SHOP_PW_UNSET" in err.value.message
