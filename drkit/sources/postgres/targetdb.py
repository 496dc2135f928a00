"""The database a logical restore writes into: a new one drkit creates (with the recorded owner,
encoding and locale), or an existing *empty* one — the only way to restore a dump of ``postgres``,
the database every cluster already has (and the one database of a managed PostgreSQL).

"Empty" means no object created after ``initdb``: nothing in the per-database catalogs with an
OID at or above 16384 (``FirstNormalObjectId``), temporary objects of live sessions left out. A
fresh cluster's ``postgres`` is empty; a database with any table, schema, function, type,
extension (other than the built-in ``plpgsql``), large object or default privilege is not, and a
restore over it is refused."""

from __future__ import annotations

from psycopg import sql as pgsql

from .conn import PgConn
from .errors import PostgresError
from .sql import execute, rows, scalar

MAINTENANCE_DB = "postgres"
FIRST_NORMAL_OID = 16384
_TEMP_NS = r"'^pg_(toast_)?temp_'"
_PLAIN_CATALOGS = (
    "pg_proc",
    "pg_extension",
    "pg_event_trigger",
    "pg_publication",
    "pg_foreign_data_wrapper",
    "pg_foreign_server",
    "pg_cast",
    "pg_operator",
    "pg_collation",
    "pg_ts_config",
    "pg_ts_dict",
    "pg_ts_parser",
    "pg_ts_template",
    "pg_conversion",
    "pg_language",
    "pg_opfamily",
    "pg_opclass",
    "pg_am",
    "pg_largeobject_metadata",
    "pg_default_acl",
)
_USER_OBJECTS_SQL = " + ".join(
    [
        f"(SELECT count(*) FROM pg_class WHERE oid >= {FIRST_NORMAL_OID} AND relpersistence <> 't')",
        f"(SELECT count(*) FROM pg_namespace WHERE oid >= {FIRST_NORMAL_OID} AND nspname !~ {_TEMP_NS})",
        f"(SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
        f"WHERE t.oid >= {FIRST_NORMAL_OID} AND n.nspname !~ {_TEMP_NS})",
        *(f"(SELECT count(*) FROM pg_catalog.{cat} WHERE oid >= {FIRST_NORMAL_OID})" for cat in _PLAIN_CATALOGS),
    ]
)


def existing_encoding(target: PgConn, dbname: str) -> str | None:
    """The encoding of ``dbname`` on the target, or None when there is no such database."""
    found = rows(
        target,
        "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = %s",
        (dbname,),
        dbname=MAINTENANCE_DB,
    )
    return str(found[0][0]) if found else None


def user_objects(target: PgConn, dbname: str) -> int:
    """How many objects were created in ``dbname`` since initdb (0: empty)."""
    return int(scalar(target, "SELECT " + _USER_OBJECTS_SQL, dbname=dbname))


def check_restorable_into(target: PgConn, dbname: str, encoding: str, backup_encoding: str | None) -> None:
    """Refuse an existing database that is not empty, or whose encoding differs from the backup's."""
    count = user_objects(target, dbname)
    if count:
        raise PostgresError(
            f"database {dbname!r} already exists on {target.display} and is not empty "
            f"({count} objects); refusing to restore over it",
            hint="restore into a new database name (--target-dsn …/NEWNAME) or an empty database",
        )
    if backup_encoding and backup_encoding != encoding:
        raise PostgresError(
            f"database {dbname!r} on {target.display} has encoding {encoding}, the backup "
            f"{backup_encoding}; refusing to restore into it",
            hint="restore into a new database name: drkit creates it with the backup's encoding",
        )


def create_database(target: PgConn, dbname: str, facts: dict[str, str]) -> None:
    """``CREATE DATABASE`` from template0 with the recorded owner, encoding and locale."""
    query = pgsql.SQL("CREATE DATABASE {} TEMPLATE template0").format(pgsql.Identifier(dbname))
    if facts.get("owner"):
        query += pgsql.SQL(" OWNER {}").format(pgsql.Identifier(facts["owner"]))
    if facts.get("encoding"):
        query += pgsql.SQL(" ENCODING {}").format(pgsql.Literal(facts["encoding"]))
    if facts.get("collate"):
        query += pgsql.SQL(" LC_COLLATE {} LC_CTYPE {}").format(
            pgsql.Literal(facts["collate"]), pgsql.Literal(facts["ctype"])
        )
    try:
        execute(target, query, dbname=MAINTENANCE_DB)
    except PostgresError as exc:
        hint = "give --globals to create the backup's roles" if "does not exist" in exc.message else None
        raise PostgresError(f"cannot create database {dbname!r}: {exc.message}", hint=hint) from None


def drop_database(target: PgConn, dbname: str) -> None:
    execute(target, pgsql.SQL("DROP DATABASE IF EXISTS {}").format(pgsql.Identifier(dbname)), dbname=MAINTENANCE_DB)
