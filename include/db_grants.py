"""PostgreSQL privileges of the application's database role.

The migrations run as the role that owns the tables; the pipeline connects as a role that may
read and add to the permanent record but never change or remove it: SELECT and INSERT only on
audit events, decisions, manifests and the release ledger (the triggers refuse UPDATE/DELETE too; the grants hold
even if a trigger is dropped, since only the owner can drop it), no DELETE on tickets.
"""

from __future__ import annotations

import re

from sqlalchemy import text

from include.db import get_engine

APPEND_ONLY = ("audit_events", "decisions", "decision_files", "round_files", "released_tables")
UPDATED = ("tickets", "rounds")  # versioned rows: updated in place, never deleted
REPLACEABLE = (  # claims that are released, the registry reloaded in place, sweep notices
    "sent_emails",
    "sweep_notices",
    "people",
    "datasets",
    "dataset_owners",
    "projects",
    "project_researchers",
    "project_datasets",
)
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_statements(role: str, schema: str) -> list[str]:
    if not _ROLE.match(role) or not _ROLE.match(schema):
        raise ValueError(f"{role!r} / {schema!r}: use a plain lowercase name (letters, digits, _)")
    return [
        f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"',
        f'GRANT SELECT ON "{schema}".alembic_version TO "{role}"',
        *(f'REVOKE ALL ON "{schema}"."{t}" FROM "{role}"' for t in APPEND_ONLY + UPDATED),
        *(f'GRANT SELECT, INSERT ON "{schema}"."{t}" TO "{role}"' for t in APPEND_ONLY),
        *(f'GRANT SELECT, INSERT, UPDATE ON "{schema}"."{t}" TO "{role}"' for t in UPDATED),
        *(
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{schema}"."{t}" TO "{role}"'
            for t in REPLACEABLE
        ),
        f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"',
    ]


def grant_app_role(url: str, role: str) -> list[str]:
    """Give ``role`` the application's privileges on the ticket store at ``url`` (upgraded to
    head first); returns the statements run. Run it as the tables' owner."""
    engine = get_engine(url)
    if engine.dialect.name != "postgresql":
        raise ValueError("database roles and grants are PostgreSQL's; this database is SQLite")
    with engine.begin() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        statements = grant_statements(role, schema)
        for sql in statements:
            conn.exec_driver_sql(sql)
    return statements
