"""Splitting and planning a ``pg_dumpall --globals-only`` script: statements about roles and
tablespaces the target already has are never run; unknown statements are counted, not run."""

from __future__ import annotations

import pytest

from drkit.sources.postgres.errors import PostgresError
from drkit.sources.postgres.roles import classify, plan, split_statements

SCRIPT = r"""--
-- PostgreSQL database cluster dump
--

\restrict abcDEF123

SET default_transaction_read_only = off;

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

CREATE ROLE grp;
ALTER ROLE grp WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
COMMENT ON ROLE grp IS 'multi
line; comment -- not a comment';
CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER LOGIN PASSWORD 'SCRAM-SHA-256$4096:abc=$def=:ghi=';
CREATE ROLE "we ird";
ALTER ROLE "we ird" WITH LOGIN CONNECTION LIMIT 3 PASSWORD 'x''y;z';
ALTER ROLE grp SET search_path TO E'a\';b';
GRANT grp TO "we ird" WITH ADMIN OPTION GRANTED BY postgres;
GRANT postgres TO grp GRANTED BY postgres;
GRANT SET ON PARAMETER work_mem TO grp;
CREATE TABLESPACE fast OWNER postgres LOCATION '/srv/fast';
GRANT ALL ON TABLESPACE fast TO "we ird";
DO $$ BEGIN END $$;

\unrestrict abcDEF123
"""


def test_split_keeps_literals_whole_and_drops_comments_and_meta_commands() -> None:
    statements = split_statements(SCRIPT)
    assert statements[0] == "SET default_transaction_read_only = off"
    assert "COMMENT ON ROLE grp IS 'multi\nline; comment -- not a comment'" in statements
    assert "ALTER ROLE \"we ird\" WITH LOGIN CONNECTION LIMIT 3 PASSWORD 'x''y;z'" in statements
    assert "ALTER ROLE grp SET search_path TO E'a\\';b'" in statements
    assert not any(s.startswith("\\") or s.startswith("--") for s in statements)
    assert len(statements) == 17


def test_classify_names_the_role_a_statement_changes() -> None:
    assert classify('GRANT grp TO "we ird" WITH ADMIN OPTION GRANTED BY postgres').name == "we ird"
    assert classify("GRANT SET ON PARAMETER work_mem TO grp").name == "grp"
    assert classify("COMMENT ON ROLE grp IS 'x'").kind == "role"
    st = classify("GRANT ALL ON TABLESPACE fast TO x")
    assert (st.kind, st.name) == ("tablespace", "fast")
    assert classify("DO $$ BEGIN END $$").kind == "unknown"


def test_plan_never_touches_existing_roles() -> None:
    statements, outcome = plan(SCRIPT, existing_roles={"postgres", "grp"}, existing_tablespaces=set())
    run = [s.sql for s in statements]
    assert not any("ROLE postgres" in s or "ROLE grp" in s for s in run)
    assert "GRANT postgres TO grp GRANTED BY postgres" not in run  # membership of an existing role
    assert "GRANT SET ON PARAMETER work_mem TO grp" not in run
    assert 'GRANT grp TO "we ird" WITH ADMIN OPTION GRANTED BY postgres' in run  # the member is new
    assert outcome.created_roles == ["we ird"]
    assert outcome.kept_roles == ["grp", "postgres"]
    assert outcome.created_tablespaces == ["fast"]
    assert outcome.skipped == 1  # the DO block: not recognised, not run
    assert run[:3] == [
        "SET default_transaction_read_only = off",
        "SET client_encoding = 'UTF8'",
        "SET standard_conforming_strings = on",
    ]


def test_plan_on_an_empty_target_runs_every_known_statement() -> None:
    statements, outcome = plan(SCRIPT, existing_roles=set(), existing_tablespaces={"fast"})
    assert outcome.created_roles == ["grp", "postgres", "we ird"]
    assert outcome.kept_roles == []
    assert not any("TABLESPACE" in s.sql for s in statements)
    assert len(statements) == 17 - 1 - 2  # DO skipped, two tablespace statements skipped


def test_unterminated_literal_is_refused() -> None:
    with pytest.raises(PostgresError, match="unterminated"):
        split_statements("CREATE ROLE a;\nALTER ROLE a PASSWORD 'open;\n")
