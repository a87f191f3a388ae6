"""The SRS pipeline on a real Airflow: S3 on loopback (moto), the real mail sink, demo registry."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.airflow_server import DEFAULT_USERS, e2e_profile, password_for
from tests.fixtures.s3 import TEST_KEY, TEST_REGION, s3_client

REPO = Path(__file__).resolve().parents[2]

# Demo staff log in to Airflow as the embedded default makes them (include.demo.airflow_users):
# officers and data owners as the narrow `viewer` of include.airflow_auth. r_jones is a
# researcher of project 1234567 given a login only to prove Airflow refuses a researcher's
# answer to that project's sign-offs, and that our view refuses someone who is none of staff.
SRS_USERS = {
    "officer_alice": "viewer",
    "officer_bob": "viewer",
    "officer_carol": "viewer",
    "do_ashe": "viewer",
    "do_lfs": "viewer",
    "r_jones": "viewer",
}


@pytest.fixture(scope="session")
def airflow_users() -> dict[str, str]:
    return {**DEFAULT_USERS, **SRS_USERS}


@pytest.fixture(scope="session")
def ticket_store_url(tmp_path_factory) -> Iterator[str]:
    """The ticket store: SQLite for the embedded profile; for the distributed profile a fresh
    PostgreSQL database of this session's own (so runs never collide), dropped at the end."""
    if e2e_profile() == "embedded":
        yield f"sqlite:///{tmp_path_factory.mktemp('srs-store') / 'srs.db'}"
        return
    import psycopg2

    admin = os.environ.get("E2E_AIRFLOW_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        conn = psycopg2.connect(admin, connect_timeout=3)
    except psycopg2.Error as exc:
        pytest.skip(f"distributed profile: PostgreSQL at {admin} is unreachable ({exc})")
    name = f"srs_e2e_dist_tickets_{uuid.uuid4().hex[:8]}"
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    base = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        from include.db import dispose_engines

        dispose_engines()
        with contextlib.suppress(psycopg2.Error), conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture(scope="session")
def srs_env(tmp_path_factory, s3_server, smtp_env, ticket_store_url) -> dict[str, str]:
    """Settings shared by this test process and every Airflow process."""
    base = tmp_path_factory.mktemp("srs-e2e")
    bucket = f"srs-e2e-{uuid.uuid4().hex[:12]}"
    s3_client(s3_server).create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": TEST_REGION})
    return {
        "SRS_DATA_DIR": str(base / "data"),
        "SRS_DATABASE_URL": ticket_store_url,
        "SRS_STORAGE_BACKEND": "s3",
        "SRS_S3_BUCKET": bucket,
        "SRS_S3_ENDPOINT_URL": s3_server,
        "AWS_ACCESS_KEY_ID": TEST_KEY,
        "AWS_SECRET_ACCESS_KEY": TEST_KEY,
        "AWS_DEFAULT_REGION": TEST_REGION,
        **smtp_env,
        # The sweeps start and finish runs through the REST API as operations.
        "SRS_API_USER": "ops",
        "SRS_API_PASSWORD": password_for("ops"),
    }


@pytest.fixture(scope="session")
def airflow_extra_env(srs_env) -> dict[str, str]:
    return srs_env


@pytest.fixture(scope="session")
def srs(srs_env, airflow_server):
    """A Pipeline on the same settings as the Airflow workers, with the demo registry loaded."""
    from include.db import session_scope
    from include.pipeline import Pipeline
    from include.registry import load
    from include.registry_file import read_registry_file
    from include.settings import Settings

    settings = Settings.from_env({**srs_env, "AIRFLOW__API__BASE_URL": airflow_server.base_url})
    with session_scope(settings.database_url) as session:
        load(session, read_registry_file(REPO / "demo" / "registry.yaml"))
    p = Pipeline(settings)
    for number in ("1234567", "4567890", "2345678", "3456789"):
        p.storage.ensure_project(number)
    return p
