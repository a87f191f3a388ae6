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


def _detail(task: str, assigned: str, answered: bool = True) -> dict:
    return {
        "task_instance": {"task_id": task},
        "assigned_users": [{"id": assigned, "name": assigned}],
        "response_received": answered,
        "responded_by_user": {"id": assigned, "name": assigned} if answered else None,
        "chosen_options": ["Request revisions"] if answered else None,
        "params_input": {"guidance": "Suppress row 7"} if answered else {},
    }


def test_a_viewer_reads_only_their_own_answers_in_hitl_details():
    listed = {
        "hitl_details": [
            _detail("officer_1", "officer_alice"),
            _detail("officer_2", "officer_bob"),
            _detail("officer_3", "officer_carol", answered=False),
        ],
        "total_entries": 3,
    }
    shown = auth.redact_others_answers(listed, "officer_bob")["hitl_details"]
    assert shown[0]["chosen_options"] == [] and shown[0]["params_input"] == {}
    assert shown[0]["responded_by_user"] == {"id": "officer_alice", "name": "officer_alice"}
    assert shown[1]["chosen_options"] == ["Request revisions"]
    assert shown[1]["params_input"] == {"guidance": "Suppress row 7"}
    assert shown[2]["chosen_options"] is None  # nothing answered, nothing to hide
    one = auth.redact_others_answers(_detail("officer_1", "officer_alice"), "officer_bob")
    assert one["chosen_options"] == [] and one["params_input"] == {}


@pytest.mark.parametrize(
    ("path", "matched"),
    [
        ("/api/v2/dags/~/dagRuns/~/hitlDetails", True),
        ("/api/v2/dags/output_request/dagRuns/STATS00001-r1/hitlDetails", True),
        ("/api/v2/dags/d/dagRuns/r/taskInstances/officer_1/-1/hitlDetails", True),
        ("/api/v2/dags/d/dagRuns/r/taskInstances/officer_1/-1/hitlDetails/tries/2", True),
        ("/api/v2/dags/d/dagRuns/r/taskInstances", False),
        ("/srs/requests", False),
    ],
)
def test_every_hitl_read_is_covered(path, matched):
    assert bool(auth._HITL_READS.match(path)) is matched


def test_the_middleware_rewrites_a_viewers_hitl_read_and_nothing_else(monkeypatch):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    site = FastAPI()
    path = "/api/v2/dags/d/dagRuns/r/hitlDetails"

    @site.get(path)
    def listed() -> dict:
        return {"hitl_details": [_detail("officer_1", "officer_alice")], "total_entries": 1}

    @site.get("/api/v2/dags/d/dagRuns/r/taskInstances")
    def other() -> dict:
        return {"chosen_options": ["kept"]}

    site.add_middleware(auth.HitlAnswerRedaction)
    users = {
        "bob": SimpleAuthManagerUser(username="officer_bob", role="viewer"),
        "alice": SimpleAuthManagerUser(username="officer_alice", role="viewer"),
        "ops": SimpleAuthManagerUser(username="ops", role="admin"),
    }

    async def user_of(scope):
        token = dict(scope["headers"]).get(b"authorization", b"")[7:].decode()
        return users.get(token)

    monkeypatch.setattr(auth, "_user_of", user_of)
    with TestClient(site) as c:

        def seen(token: str) -> list:
            response = c.get(path, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200
            return response.json()["hitl_details"][0]["chosen_options"]

        assert seen("bob") == []
        assert seen("alice") == ["Request revisions"]
        assert seen("ops") == ["Request revisions"]
        assert seen("nobody") == []  # unresolved: fail closed
        other = c.get(
            "/api/v2/dags/d/dagRuns/r/taskInstances", headers={"Authorization": "Bearer bob"}
        )
        assert other.json() == {"chosen_options": ["kept"]}
