"""Alembic migrations of the ticket store (tickets, rounds, audit, decisions, emails, registry,
sweep notices): every table on ``include.db.Base``. Configured in code, no ``alembic.ini``:
``include.db.upgrade_engine`` runs them (``srs db upgrade``; ``get_engine`` on first use).

To write a new revision: ``.venv/bin/python -m include.store_migrations revision -m "what"``
(autogenerate against a database at head: add ``--autogenerate --url sqlite:///x.db``).
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy import Connection

BASELINE = "0001"  # the schema the release before migrations made with create_all
HERE = Path(__file__).resolve().parent


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg
