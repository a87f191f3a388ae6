"""On PostgreSQL the application's role may read and append the record, never rewrite it."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from include.db import get_engine
from include.db_grants import grant_app_role, grant_statements
from include.tickets import TicketStore
from tests.unit.store.helpers import drop_guard, with_history


@pytest.fixture
def app_role(postgres_url):
    role = f"h1_app_{uuid.uuid4().hex[:8]}"
    engine = get_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{role}" NOLOGIN')
    yield role
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
        conn.exec_driver_sql(f'DROP ROLE "{role}"')


def test_the_app_role_cannot_update_or_delete_audit_rows(postgres_url, app_role):
    store = TicketStore(postgres_url)
    t = with_history(store)
    grant_app_role(postgres_url, app_role)
    # Even with the trigger gone, the grants alone refuse the change.
    drop_guard(get_engine(postgres_url), "audit_events")
    engine = get_engine(postgres_url)
    for table in ("audit_events", "decisions", "decision_files", "round_files"):
        for sql in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
            with pytest.raises(Exception, match="permission denied"), engine.begin() as conn:
                conn.exec_driver_sql(f'SET LOCAL ROLE "{app_role}"')
                conn.exec_driver_sql(sql)
    with pytest.raises(Exception, match="permission denied"), engine.begin() as conn:
        conn.exec_driver_sql(f'SET LOCAL ROLE "{app_role}"')
        conn.exec_driver_sql("DELETE FROM tickets")
    # What the pipeline does is allowed: read, add events, update tickets and rounds.
    with engine.begin() as conn:
        conn.exec_driver_sql(f'SET LOCAL ROLE "{app_role}"')
        n = conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one()
        assert n == len(store.audit(t.stats_id))
        conn.execute(
            text(
                "INSERT INTO audit_events (ticket_id, at, actor, action, details, seq, "
                "prev_hash, hash) SELECT id, now(), 'app', 'noted', '{}', 99, '', '' FROM tickets"
            )
        )
        conn.execute(text("UPDATE tickets SET updated_at = now()"))
        conn.execute(text("UPDATE rounds SET updated_at = now()"))
        conn.execute(text("SELECT version_num FROM alembic_version"))


def test_role_names_are_plain():
    with pytest.raises(ValueError, match="plain lowercase name"):
        grant_statements('app"; DROP TABLE tickets; --', "public")
    assert any("REVOKE ALL" in s for s in grant_statements("srs_app", "public"))


def test_sqlite_has_no_roles(tmp_path):
    with pytest.raises(ValueError, match="PostgreSQL"):
        grant_app_role(f"sqlite:///{tmp_path / 'x.db'}", "srs_app")
