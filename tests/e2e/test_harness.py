"""The e2e harness itself: a real Airflow answers Required Actions through the REST API.

Uses ``tests/e2e/dags/e2e_hitl_probe.py``: ``review`` (HITLOperator assigned to officer_a, options
"Pass" / "Request revisions", a ``guidance`` param of at most 200 characters) -> ``report``.
"""

from __future__ import annotations

import uuid

import pytest

DAG_ID = "e2e_hitl_probe"

pytestmark = pytest.mark.e2e


def _run_id(label: str) -> str:
    return f"harness-{label}-{uuid.uuid4().hex[:8]}"


def test_tokens_are_per_user_and_roles_apply(airflow_server):
    assert airflow_server.token("officer_a") != airflow_server.token("ops")
    # A viewer may read DAGs but not trigger them.
    assert airflow_server.request("GET", f"/dags/{DAG_ID}", "viewer").status_code in (200, 404)
    response = airflow_server.request(
        "POST", f"/dags/{DAG_ID}/dagRuns", "viewer", json={"logical_date": None}
    )
    assert response.status_code == 403


def test_assigned_officer_answers_required_action(airflow_server):
    run_id = _run_id("pass")
    airflow_server.trigger(DAG_ID, conf={}, run_id=run_id)

    detail = airflow_server.wait_for_hitl(DAG_ID, run_id, "review")
    assert detail["options"] == ["Pass", "Request revisions"]
    assert detail["assigned_users"] == [{"id": "officer_a", "name": "officer_a"}]
    assert detail["subject"] == f"Probe review for {run_id}"
    assert "guidance" in detail["params"]
    assert airflow_server.task_states(DAG_ID, run_id)["review"] == "awaiting_input"
    assert airflow_server.dag_run(DAG_ID, run_id)["state"] == "running"

    # Not assigned: refused, even though officer_b's role may answer Required Actions in general.
    refused = airflow_server.respond(
        DAG_ID, run_id, "review", ["Pass"], {"guidance": "no"}, user="officer_b"
    )
    assert refused.status_code == 403, refused.text
    # ops is an admin, and admins are not exempt from the assignment check either.
    assert airflow_server.respond(DAG_ID, run_id, "review", ["Pass"], user="ops").status_code == 403
    # An option that does not exist is refused before anything is recorded.
    bad = airflow_server.respond(DAG_ID, run_id, "review", ["Approve"], user="officer_a")
    assert bad.status_code == 400, bad.text

    answer = airflow_server.respond(
        DAG_ID,
        run_id,
        "review",
        ["Request revisions"],
        {"guidance": "Round table 2 to base 10."},
        user="officer_a",
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["responded_by"] == {"id": "officer_a", "name": "officer_a"}

    # Answering twice is a conflict, not an overwrite.
    again = airflow_server.respond(DAG_ID, run_id, "review", ["Pass"], user="officer_a")
    assert again.status_code == 409, again.text

    airflow_server.wait_for_run(DAG_ID, run_id, states=["success"], timeout=120)
    assert airflow_server.task_states(DAG_ID, run_id) == {"review": "success", "report": "success"}
    assert airflow_server.xcom(DAG_ID, run_id, "report") == {
        "chosen": ["Request revisions"],
        "guidance": "Round table 2 to base 10.",
    }
    log = airflow_server.task_log(DAG_ID, run_id, "report")
    assert "Round table 2 to base 10." in log
    assert airflow_server.hitl_details(DAG_ID, run_id) == []
    [answered] = airflow_server.hitl_details(DAG_ID, run_id, pending=False)
    assert answered["chosen_options"] == ["Request revisions"]
    assert answered["responded_by_user"]["id"] == "officer_a"


def test_invalid_params_are_accepted_by_the_api_then_fail_the_task(airflow_server):
    """Gotcha (Airflow 3.3): params_input is not validated on PATCH; the task fails on resume."""
    run_id = _run_id("badparams")
    airflow_server.trigger(DAG_ID, conf={}, run_id=run_id)
    airflow_server.wait_for_hitl(DAG_ID, run_id, "review")

    answer = airflow_server.respond(
        DAG_ID, run_id, "review", ["Pass"], {"guidance": "x" * 500}, user="officer_a"
    )
    assert answer.status_code == 200, answer.text
    airflow_server.wait_for_run(DAG_ID, run_id, states=["failed"], timeout=120)
    states = airflow_server.task_states(DAG_ID, run_id)
    assert states["review"] == "failed"
    assert states["report"] == "upstream_failed"
    # Failed for the right reason: the resumed operator validated the answer against the param.
    assert "ParamValidationError" in airflow_server.failure_logs(DAG_ID, run_id)


def test_waiting_sign_offs_do_not_hold_executor_slots(airflow_server):
    """More runs wait for people than the executor has slots (parallelism 2): none is starved."""
    run_ids = [_run_id(f"queue{i}") for i in range(3)]
    for run_id in run_ids:
        airflow_server.trigger(DAG_ID, conf={}, run_id=run_id)
    for run_id in run_ids:
        airflow_server.wait_for_hitl(DAG_ID, run_id, "review", timeout=120)
    pending = airflow_server.hitl_details(DAG_ID, "~")
    assert {d["task_instance"]["dag_run_id"] for d in pending} >= set(run_ids)
    for run_id in run_ids:
        answer = airflow_server.respond(
            DAG_ID, run_id, "review", ["Pass"], {"guidance": ""}, user="officer_a"
        )
        assert answer.status_code == 200, answer.text
    for run_id in run_ids:
        airflow_server.wait_for_run(DAG_ID, run_id, states=["success"], timeout=120)
        assert airflow_server.xcom(DAG_ID, run_id, "report") == {"chosen": ["Pass"], "guidance": ""}
