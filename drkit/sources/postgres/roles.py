"""Replaying a backup's globals (``pg_dumpall --globals-only``: roles, role settings, memberships,
parameter privileges, tablespaces) without touching what the target already has.

Replaying the script as it stands would run ``ALTER ROLE x WITH … PASSWORD '<old hash>'`` on every
role that exists on the target: a password rotated since the backup would log in again, a role
made ``NOLOGIN`` would log in again, revoked memberships would come back. So the script is split
into statements and each is classified by what it changes:

- a statement about a role (``CREATE``/``ALTER``/``COMMENT ON``/``SECURITY LABEL … ROLE r``), a
  membership granted *to* a role (``GRANT g TO r``) or a parameter privilege granted to a role
  runs only when that role did not exist on the target before the restore;
- a tablespace statement runs only when that tablespace did not exist;
- ``SET`` statements of the script's preamble run; psql meta-commands (``\\restrict``) are dropped;
- anything else is skipped and counted (reported, never silently run).

Existing roles and tablespaces are left exactly as they are, and named in the outcome so the
caller can say so. The splitter knows the lexical forms ``pg_dumpall`` writes: ``'…'`` strings
(``''`` inside), ``E'…'`` strings (backslash escapes), ``"…"`` identifiers, ``--`` comments."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import psycopg

from .conn import PgConn
from .errors import PostgresError
from .sql import rows, session

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_ROLE_STATEMENTS = [
    re.compile(rf"^CREATE ROLE ({_IDENT})\s*$", re.IGNORECASE),
    re.compile(rf"^ALTER ROLE ({_IDENT})\s", re.IGNORECASE),
    re.compile(rf"^COMMENT ON ROLE ({_IDENT})\s", re.IGNORECASE),
    re.compile(rf"^SECURITY LABEL (?:FOR \S+ )?ON ROLE ({_IDENT})\s", re.IGNORECASE),
    re.compile(rf"^GRANT {_IDENT} TO ({_IDENT})(?:\s|$)", re.IGNORECASE),  # membership: changes the member
    re.compile(
        rf"^(?:GRANT|REVOKE) .* ON PARAMETER .* (?:TO|FROM) ({_IDENT})(?:\s+WITH GRANT OPTION)?"
        rf"(?:\s+GRANTED BY {_IDENT})?\s*$",
        re.IGNORECASE | re.DOTALL,
    ),
]
_TABLESPACE_STATEMENTS = [
    re.compile(rf"^(?:CREATE|ALTER) TABLESPACE ({_IDENT})\s", re.IGNORECASE),
    re.compile(rf"^COMMENT ON TABLESPACE ({_IDENT})\s", re.IGNORECASE),
    re.compile(rf"^SECURITY LABEL (?:FOR \S+ )?ON TABLESPACE ({_IDENT})\s", re.IGNORECASE),
    re.compile(rf"^(?:GRANT|REVOKE) .* ON TABLESPACE ({_IDENT}) (?:TO|FROM)\s", re.IGNORECASE | re.DOTALL),
]
_SESSION = re.compile(r"^SET [a-z_]+ (?:=|TO) ", re.IGNORECASE)


@dataclass(frozen=True)
class Statement:
    sql: str
    kind: str  # "role", "tablespace", "session", "unknown"
    name: str | None = None


@dataclass
class GlobalsOutcome:
    """What replaying the globals did: roles created, roles that existed and were left unchanged,
    tablespaces created, statements drkit did not recognise (skipped)."""

    created_roles: list[str] = field(default_factory=list)
    kept_roles: list[str] = field(default_factory=list)
    created_tablespaces: list[str] = field(default_factory=list)
    skipped: int = 0


def unquote_ident(token: str) -> str:
    if token.startswith('"'):
        return token[1:-1].replace('""', '"')
    return token.lower()


def _skip_quoted(text: str, i: int, quote: str, backslash: bool) -> int:
    """Index just past the literal opening at ``text[i]``."""
    i += 1
    while i < len(text):
        ch = text[i]
        if backslash and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if i + 1 < len(text) and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    raise PostgresError("the backup's globals script has an unterminated literal; not restoring roles")


def split_statements(script: str) -> list[str]:
    """Statements of a ``pg_dumpall`` script, without comments and psql meta-commands.
    Hand-written (no SQL lexer in the dependencies): only the forms pg_dumpall emits are needed."""
    statements: list[str] = []
    start, i = 0, 0
    while i < len(script):
        ch = script[i]
        at_start = not script[start:i].strip()
        if ch == "-" and script.startswith("--", i) or ch == "\\" and at_start:
            end = script.find("\n", i)
            i = len(script) if end < 0 else end + 1
            if at_start:
                start = i
        elif ch in "'\"":
            escaped = ch == "'" and i > 0 and script[i - 1] in "eE" and not script[i - 2 : i - 1].isalnum()
            i = _skip_quoted(script, i, ch, escaped)
        elif ch == ";":
            statements.append(script[start:i].strip())
            i += 1
            start = i
        else:
            i += 1
    if script[start:].strip():
        raise PostgresError("the backup's globals script ends inside a statement; not restoring roles")
    return [s for s in statements if s]


def classify(statement: str) -> Statement:
    for kind, patterns in (("role", _ROLE_STATEMENTS), ("tablespace", _TABLESPACE_STATEMENTS)):
        for pattern in patterns:
            match = pattern.match(statement)
            if match:
                return Statement(statement, kind, unquote_ident(match.group(1)))
    if _SESSION.match(statement):
        return Statement(statement, "session")
    return Statement(statement, "unknown")


def plan(
    script: str, existing_roles: set[str], existing_tablespaces: set[str]
) -> tuple[list[Statement], GlobalsOutcome]:
    """The statements to run against a target that has ``existing_*``, and the outcome."""
    run: list[Statement] = []
    outcome = GlobalsOutcome()
    for st in map(classify, split_statements(script)):
        if st.kind == "unknown":
            outcome.skipped += 1
        elif st.kind == "session":
            run.append(st)
        elif st.kind == "role" and st.name is not None:
            _plan_named(st, existing_roles, run, outcome.created_roles, outcome.kept_roles)
        elif st.name is not None:
            _plan_named(st, existing_tablespaces, run, outcome.created_tablespaces, [])
    return run, outcome


def _plan_named(st: Statement, existing: set[str], run: list[Statement], created: list[str], kept: list[str]) -> None:
    assert st.name is not None
    if st.name in existing:
        if st.name not in kept:
            kept.append(st.name)
        return
    run.append(st)
    if st.sql.upper().startswith(("CREATE ROLE", "CREATE TABLESPACE")):
        created.append(st.name)


def restore_globals(target: PgConn, script: str) -> GlobalsOutcome:
    """Create the roles and tablespaces of ``script`` that ``target`` lacks; leave the rest alone."""
    roles = {r for (r,) in rows(target, "SELECT rolname FROM pg_roles", dbname="postgres")}
    spaces = {t for (t,) in rows(target, "SELECT spcname FROM pg_tablespace", dbname="postgres")}
    statements, outcome = plan(script, roles, spaces)
    with session(target, "postgres") as db:
        for st in statements:
            try:
                db.execute(st.sql)
            except psycopg.Error as exc:  # never the statement text: it may hold a password hash
                what = f"{st.kind} {st.name}" if st.name else "a session setting"
                detail = exc.diag.message_primary or type(exc).__name__
                raise PostgresError(
                    f"restoring globals failed at {what}: {detail}", hint="nothing of the database was restored yet"
                ) from None
    return outcome
