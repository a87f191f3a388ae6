"""include.airflow_auth.SRSAuthManager: a viewer answers Required Actions and writes nothing else.

The same questions Airflow's routes ask (``requires_access_dag(method, access_entity)``), put to
the auth manager directly; tests/e2e/test_access.py asks them over HTTP.
"""

from __future__ import annotations

import pytest

auth = pytest.importorskip("include.airflow_auth", reason="needs Airflow")

from airflow.api_fastapi.auth.managers.models.resource_details import (  # noqa: E402
    DagAccessEntity as E,
)
from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails  # noqa: E402
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import (  # noqa: E402
    SimpleAuthManager,
)
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser  # noqa: E402

DAG = DagDetails(id="output_request")
# Every write a forgery or a run needs, as Airflow's routes ask for it.
WRITES = [
    ("POST", E.XCOM),  # POST …/xcomEntries
    ("PUT", E.XCOM),
    ("DELETE", E.XCOM),
    ("PUT", E.TASK_INSTANCE),  # PATCH task instance state, clear tasks
    ("DELETE", E.TASK_INSTANCE),
    ("POST", E.RUN),  # trigger
    ("PUT", E.RUN),  # mark run success, clear run
    ("DELETE", E.RUN),
    ("PUT", None),  # pause/unpause, the DAG itself
    ("DELETE", None),
]


def _manager() -> SimpleAuthManager:
    return auth.SRSAuthManager.__new__(auth.SRSAuthManager)  # no init: no passwords file


def _allowed(manager, role, method, entity) -> bool:
    user = SimpleAuthManagerUser(username="someone", role=role)
    return manager.is_authorized_dag(method=method, user=user, access_entity=entity, details=DAG)


def test_stock_simple_auth_manager_viewer_cannot_answer_and_user_can_forge():
    """Why the subclass exists: stock 3.3 offers no role between "cannot answer" and "can forge"."""
    stock = SimpleAuthManager.__new__(SimpleAuthManager)
    assert not _allowed(stock, "viewer", "PUT", E.HITL_DETAIL)
    assert _allowed(stock, "user", "PUT", E.HITL_DETAIL)
    assert all(_allowed(stock, "user", m, e) for m, e in WRITES)


def test_viewer_may_answer_and_list_required_actions():
    m = _manager()
    assert _allowed(m, "viewer", "PUT", E.HITL_DETAIL)
    assert _allowed(m, "viewer", "GET", E.HITL_DETAIL)
    assert not _allowed(m, "viewer", "DELETE", E.HITL_DETAIL)
    assert not _allowed(m, "viewer", "POST", E.HITL_DETAIL)


@pytest.mark.parametrize(("method", "entity"), WRITES)
def test_viewer_writes_nothing_else(method, entity):
    assert not _allowed(_manager(), "viewer", method, entity)


@pytest.mark.parametrize("entity", [E.XCOM, E.TASK_LOGS, E.AUDIT_LOG])
def test_viewer_does_not_read_xcom_logs_or_the_event_log(entity):
    assert not _allowed(_manager(), "viewer", "GET", entity)


@pytest.mark.parametrize("entity", [None, E.RUN, E.TASK, E.TASK_INSTANCE, E.CODE])
def test_viewer_still_reads_runs_and_tasks(entity):
    assert _allowed(_manager(), "viewer", "GET", entity)


def test_other_roles_are_simple_auth_managers():
    m = _manager()
    for role in ("user", "op", "admin"):
        assert _allowed(m, role, "POST", E.RUN) and _allowed(m, role, "GET", E.XCOM)
    assert not _allowed(m, None, "GET", None)


def test_assigned_users_check_is_airflows():
    m = _manager()
    user = SimpleAuthManagerUser(username="officer_alice", role="viewer")
    assert m.is_authorized_hitl_task(assigned_users={"officer_alice"}, user=user)
    assert not m.is_authorized_hitl_task(assigned_users={"officer_bob"}, user=user)
