"""Shared test set-up: every test gets its own AIRFLOW_HOME/SRS data folder and fresh settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# In-process Airflow (DAG parsing in tests/dags) loads this repo's plugins, as the real
# processes do: the request DAGs' priority strategy is registered there.
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(Path(__file__).resolve().parent.parent / "plugins"))

pytest_plugins: list[str] = [
    "tests.fixtures.s3",
    "tests.fixtures.databases",
    "tests.fixtures.smtp",
    "tests.fixtures.airflow_server",
    "tests.fixtures.demo",
]


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch):
    """No test reads or writes the developer's own .airflow folder."""
    from include.settings import reset_settings

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow-home"))
    monkeypatch.delenv("SRS_DATA_DIR", raising=False)
    monkeypatch.delenv("SRS_DATABASE_URL", raising=False)
    monkeypatch.delenv("SRS_STORAGE_ROOT", raising=False)
    reset_settings()
    yield
    reset_settings()
