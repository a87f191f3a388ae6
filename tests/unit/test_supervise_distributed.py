"""scripts/supervise_distributed.py: the distributed profile fails at once, saying what to do,
when its services are not there, and creates its databases only when missing."""

from __future__ import annotations

import importlib
import sys
import uuid
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture(scope="module")
def dist():
    sys.path.insert(0, str(SCRIPTS))
    try:
        yield importlib.import_module("supervise_distributed")
    finally:
        sys.path.remove(str(SCRIPTS))


@pytest.fixture(autouse=True)
def _logs_in_tmp(dist, tmp_path, monkeypatch):
    """The supervisor's log lines go to this test's folder, not the repository's .airflow/."""
    monkeypatch.setattr(sys.modules["supervise"], "LOG_DIR", tmp_path / "supervisor-logs")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_redis_is_fatal_with_the_setting_to_change(dist):
    with pytest.raises(dist.Fatal, match="SRS_DIST_REDIS_URL"):
        dist.check_redis(f"redis://127.0.0.1:{_free_port()}/6")


def test_unreachable_postgres_is_fatal_with_the_setting_to_change(dist):
    url = f"postgresql://postgres@127.0.0.1:{_free_port()}/postgres"
    with pytest.raises(dist.Fatal, match="SRS_DIST_POSTGRES_ADMIN_URL"):
        dist.ensure_databases(url, ["never_made"])


@pytest.mark.postgres
def test_databases_created_once(dist):
    import psycopg2

    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        conn = psycopg2.connect(admin, connect_timeout=3)
    except psycopg2.Error as exc:
        pytest.skip(f"PostgreSQL at {admin} unreachable ({type(exc).__name__})")
    conn.autocommit = True
    names = [f"h2_dist_test_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    try:
        dist.ensure_databases(admin, names)
        dist.ensure_databases(admin, names)  # again: already there, nothing to do
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE datname = ANY(%s)", (names,))
            assert sorted(r[0] for r in cur.fetchall()) == sorted(names)
    finally:
        with conn.cursor() as cur:
            for name in names:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.close()


def test_database_name_from_url(dist):
    assert (
        dist._database_name("postgresql+psycopg2://u@h:5432/srs_dist_tickets") == "srs_dist_tickets"
    )
