"""The MySQL / MariaDB source against a real MariaDB 10.11 (tests/servers/mariadb.py): a dump through
`drkit backup mysql`, restored with `drkit restore mysql` into a new database and into an existing
empty one, compared with the source by an independent oracle -- `mariadb-dump` of both, run by the
test as root over the socket -- including binary data, a view, a trigger, routines and an event.
Refusals (a non-empty target, a wrong password) exit with their codes and harm nothing; the password
never appears in argv, output or a leftover file."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from clirun import drkit, one_line_error
from mysqlkit import init_repo
from servers.mariadb import PASSWORD, MariaDB, normalised_dump

pytestmark = pytest.mark.integration

REPO_PW = "mysql-it-Repo-Pass-41c"

SCHEMA = """
CREATE TABLE items (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(100) CHARACTER SET utf8mb4 NOT NULL,
                    price DECIMAL(10,2), payload LONGBLOB, created DATETIME(6)) ENGINE=InnoDB;
CREATE TABLE audit (id INT PRIMARY KEY AUTO_INCREMENT, item_id INT, note TEXT CHARACTER SET utf8mb4) ENGINE=InnoDB;
CREATE VIEW expensive AS SELECT id, name FROM items WHERE price > 10;
CREATE TRIGGER items_audit AFTER INSERT ON items FOR EACH ROW INSERT INTO audit (item_id, note)
    VALUES (NEW.id, CONCAT('added ', NEW.name));
CREATE FUNCTION doubled(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
CREATE PROCEDURE add_item(IN n VARCHAR(100), IN p DECIMAL(10,2))
    INSERT INTO items (name, price, created) VALUES (n, p, NOW(6));
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM audit WHERE id < 0;
INSERT INTO items (name, price, payload, created) VALUES
    ('plain', 5.50, NULL, '2026-01-02 03:04:05.123456'),
    ('zürich ✓ émoji 🚀', 99.99, UNHEX(REPEAT('00FF0A0D5C2722', 300)), '2026-06-30 23:59:59.999999'),
    ('quote '' back\\\\slash', 12.00, REPEAT('x', 70000), NULL);
CALL add_item('via procedure', 42.00);
"""


def _all_bytes_row(server: MariaDB, db: str) -> None:
    """Every byte value 0..255, twice, in a blob (written as hex, read back by the oracle as hex)."""
    server.sql(
        "INSERT INTO items (name, payload) VALUES ('all bytes', UNHEX('" + bytes(range(256)).hex() * 2 + "'))", db
    )


@pytest.fixture
def source_db(mysql_server: MariaDB) -> str:
    db = f"shop_{uuid.uuid4().hex[:8]}"
    mysql_server.sql(f"CREATE DATABASE {db} CHARACTER SET latin1 COLLATE latin1_swedish_ci")
    mysql_server.client(db, stdin=("DELIMITER ;;\n" + SCHEMA.replace(";\n", ";;\n")).encode())
    _all_bytes_row(mysql_server, db)
    return db


@pytest.fixture
def repo(tmp_path: Path) -> list[str]:
    return init_repo(tmp_path, REPO_PW)


def _run(*args: str, outputs: list[bytes], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    proc = drkit(*args, env=env, timeout=600)
    outputs += [proc.stdout, proc.stderr]
    return proc


def test_dump_restores_equal_into_a_new_database(mysql_server: MariaDB, source_db: str, repo: list[str]) -> None:
    outputs: list[bytes] = []
    env = mysql_server.password_env()
    backup = _run("backup", "mysql", "--url", mysql_server.url(source_db), *repo, "--json", outputs=outputs, env=env)
    assert backup.returncode == 0, backup.stderr.decode()
    restored = f"{source_db}_restored"
    proc = _run(
        "restore",
        "mysql",
        "latest",
        "--url",
        mysql_server.url(),
        "--database",
        restored,
        *repo,
        outputs=outputs,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert normalised_dump(mysql_server, restored) == normalised_dump(mysql_server, source_db)
    charset = mysql_server.sql(
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM "
        f"information_schema.SCHEMATA WHERE SCHEMA_NAME = '{restored}'"
    )
    assert charset.split() == ["latin1", "latin1_swedish_ci"]
    # the objects the oracle's dump holds are really there and work
    assert mysql_server.sql("SELECT doubled(21)", restored).strip() == "42"
    assert mysql_server.sql("SELECT COUNT(*) FROM expensive", restored).strip() == "3"
    assert (
        mysql_server.sql("SELECT HEX(payload) FROM items WHERE name = 'all bytes'", restored).strip()
        == bytes(range(256)).hex().upper() * 2
    )
    assert all(PASSWORD.encode() not in out for out in outputs)


def test_restore_into_existing_empty_database_and_refusal_of_a_full_one(
    mysql_server: MariaDB, source_db: str, repo: list[str]
) -> None:
    outputs: list[bytes] = []
    env = mysql_server.password_env()
    assert (
        _run("backup", "mysql", "--url", mysql_server.url(source_db), *repo, outputs=outputs, env=env).returncode == 0
    )
    empty = f"{source_db}_empty"
    mysql_server.sql(f"CREATE DATABASE {empty}")
    proc = _run("restore", "mysql", "--url", mysql_server.url(empty), *repo, outputs=outputs, env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert normalised_dump(mysql_server, empty) == normalised_dump(mysql_server, source_db)
    before = normalised_dump(mysql_server, empty)
    again = _run("restore", "mysql", "--url", mysql_server.url(empty), *repo, outputs=outputs, env=env)
    assert again.returncode == 2
    assert "is not empty" in one_line_error(again)
    assert normalised_dump(mysql_server, empty) == before  # the refused restore changed nothing


def test_wrong_password_exits_14_without_a_snapshot(mysql_server: MariaDB, source_db: str, repo: list[str]) -> None:
    outputs: list[bytes] = []
    proc = _run(
        "backup",
        "mysql",
        "--url",
        mysql_server.url(source_db),
        *repo,
        outputs=outputs,
        env={"DRKIT_MYSQL_PASSWORD": "not-the-password"},
    )
    assert proc.returncode == 14, proc.stderr.decode()
    assert "Access denied" in one_line_error(proc)
    snaps = drkit("snapshots", *repo, "--json")
    assert snaps.returncode == 0 and b"mysql" not in snaps.stdout


def test_password_file_and_no_leftover_option_file(
    mysql_server: MariaDB, source_db: str, repo: list[str], tmp_path: Path
) -> None:
    pw_file = tmp_path / "mysql-pw"
    pw_file.write_text(PASSWORD + "\n")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = drkit(
        "backup",
        "mysql",
        "--url",
        mysql_server.url(source_db),
        "--mysql-password-file",
        str(pw_file),
        *repo,
        env={"TMPDIR": str(tmp)},
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert list(tmp.iterdir()) == []  # the 0600 option file and its directory are gone


def test_a_least_privilege_user_with_quotes_backslashes_and_hashes_in_its_password(
    mysql_server: MariaDB, source_db: str, repo: list[str]
) -> None:
    odd = "p\"a\\ss #;wo'rd $x"
    user = f"odd{uuid.uuid4().hex[:6]}"
    mysql_server.sql(
        f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '"
        + odd.replace("\\", "\\\\").replace("'", "''")
        + f"'; GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON {source_db}.* TO '{user}'@'127.0.0.1';"
        f" GRANT SELECT ON mysql.proc TO '{user}'@'127.0.0.1'"
    )  # the privileges docs/mysql.md names
    url = mysql_server.url(source_db).replace("drkit@", f"{user}@")
    proc = drkit("backup", "mysql", "--url", url, *repo, env={"DRKIT_MYSQL_PASSWORD": odd})
    assert proc.returncode == 0, proc.stderr.decode()
    assert odd.encode() not in proc.stdout + proc.stderr


def test_damaged_pack_exits_13_and_drops_the_database_it_created(
    mysql_server: MariaDB, source_db: str, repo: list[str], tmp_path: Path
) -> None:
    env = mysql_server.password_env()
    assert drkit("backup", "mysql", "--url", mysql_server.url(source_db), *repo, env=env).returncode == 0
    packs = [p for p in (tmp_path / "repo" / "data").rglob("*") if p.is_file()]
    assert packs
    for pack in packs:  # one flipped byte in the middle of every pack
        data = bytearray(pack.read_bytes())
        data[len(data) // 2] ^= 0x01
        pack.chmod(0o644)
        pack.write_bytes(bytes(data))
    into = f"{source_db}_damaged"
    proc = drkit("restore", "mysql", "--url", mysql_server.url(), "--database", into, *repo, env=env)
    assert proc.returncode == 13, proc.stderr.decode()
    assert "dropped again" in one_line_error(proc)
    assert mysql_server.sql(f"SHOW DATABASES LIKE '{into}'").strip() == ""


def test_latest_among_two_databases_is_refused_and_name_restores_its_own(
    mysql_server: MariaDB, source_db: str, repo: list[str]
) -> None:
    """`restore mysql latest` used to take the newest dump of any database: with two (two source names) it
    exits 2 and creates nothing; `--name` restores that database's dump, equal to it (mariadb-dump oracle)
    although the other one's is newer."""
    outputs: list[bytes] = []
    env = mysql_server.password_env()
    other = f"other_{uuid.uuid4().hex[:8]}"
    mysql_server.sql(f"CREATE DATABASE {other}")
    mysql_server.sql("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (7)", other)
    for db in (source_db, other):  # the other database's dump is the newest
        proc = _run("backup", "mysql", "--url", mysql_server.url(db), *repo, outputs=outputs, env=env)
        assert proc.returncode == 0, proc.stderr.decode()
    restored = f"{source_db}_latest"
    args = ("restore", "mysql", "latest", "--url", mysql_server.url(), "--database", restored, *repo)
    refused = _run(*args, outputs=outputs, env=env)
    assert refused.returncode == 2, refused.stderr.decode()
    assert "ambiguous" in one_line_error(refused)
    assert restored not in mysql_server.sql("SHOW DATABASES").split()
    proc = _run(*args, "--name", source_db, outputs=outputs, env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert normalised_dump(mysql_server, restored) == normalised_dump(mysql_server, source_db)
