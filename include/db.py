"""The ticket store's database: one SQLAlchemy engine per URL, SQLite by default, Postgres alike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    """Declarative base of every table the pipeline owns (registry and tickets)."""


_engines: dict[str, Engine] = {}


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


def get_engine(url: str) -> Engine:
    """The engine for ``url``, created (with every table) on first use in this process."""
    engine = _engines.get(url)
    if engine is not None:
        return engine
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "isolation_level": None})
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    # Import the table modules so create_all knows every table.
    from include import registry, sweeps, tickets  # noqa: F401

    Base.metadata.create_all(engine)
    _engines[url] = engine
    return engine


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
