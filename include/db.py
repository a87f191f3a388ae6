"""The ticket store's database: one SQLAlchemy engine per URL, SQLite by default, Postgres alike.

Alembic owns the schema (``include/store_migrations``): the first ``get_engine`` for a URL in a
process upgrades that database to the newest revision, under a lock, so processes starting at
the same time migrate it once. ``srs db upgrade`` does the same explicitly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    """Declarative base of every table the pipeline owns (registry, tickets, sweep notices)."""


_engines: dict[str, Engine] = {}
# Alembic's op/context proxies are process-global: one migration at a time per process.
_migrating = threading.RLock()


def _on_sqlite_connect(dbapi_conn, _record) -> None:
    # WAL lets readers run beside one writer; foreign keys are off by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _on_sqlite_begin(conn) -> None:
    # Take the write lock at BEGIN, so concurrent processes queue instead of failing with
    # "database is locked" when a reader later tries to write.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _create(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "isolation_level": None})
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def get_engine(url: str) -> Engine:
    """The engine for ``url``; on first use in this process its database is upgraded to head."""
    engine = _engines.get(url)
    if engine is not None:
        return engine
    with _migrating:
        engine = _engines.get(url)
        if engine is None:
            engine = _create(url)
            upgrade_engine(engine)
            _engines[url] = engine
    return engine


# Any fixed 64-bit number: the PostgreSQL advisory lock the migrating processes queue on.
_MIGRATION_LOCK = 0x5352535F444221


def upgrade_engine(engine: Engine) -> str | None:
    """Upgrade ``engine``'s database to the newest revision; returns the revision it is at.

    One transaction: on SQLite it opens with BEGIN IMMEDIATE (the write lock), on PostgreSQL it
    takes an advisory lock first, so a second process waits and then finds nothing to do. A
    database made by the release before migrations (tables, no ``alembic_version``) is stamped
    at the baseline revision, which created exactly that schema, and upgraded from there.
    """
    from alembic import command
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect

    from include.store_migrations import BASELINE, alembic_config

    with _migrating, engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        tables = set(inspect(conn).get_table_names())
        cfg = alembic_config(conn)
        if "alembic_version" not in tables and "tickets" in tables:
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, "head")
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: str) -> str | None:
    """``srs db upgrade``: upgrade the database at ``url`` to head (again, if need be)."""
    engine = _engines.get(url) or _create(url)
    revision = upgrade_engine(engine)
    _engines[url] = engine
    return revision


def current_revision(url: str) -> str | None:
    """The revision the database is at (None: never migrated), without upgrading it."""
    from alembic.migration import MigrationContext

    engine = _engines.get(url) or _create(url)
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def dispose_engines() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on error."""
    factory = sessionmaker(get_engine(url), expire_on_commit=False)
    with factory.begin() as session:
        yield session
