"""Alembic's environment for the ticket store: online only, on the caller's connection."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

import include.ledger_tables  # noqa: F401
import include.registry  # noqa: F401  (every table on Base)
import include.sweeps  # noqa: F401
import include.ticket_tables  # noqa: F401
from include.db import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
