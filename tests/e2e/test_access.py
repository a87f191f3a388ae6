"""Least privilege and need-to-know on a real Airflow (issue 10), tried as an attacker would.

Officers and data owners log in as ``viewer`` of include.airflow_auth.SRSAuthManager (the
harness and the embedded default configure it): each can answer the Required Actions assigned
to them, and nothing else Airflow offers for writing a sign-off's record is open to them. The
operator view shows a data owner only the requests touching their datasets.
"""

from __future__ import annotations

import pytest

from tests.e2e.test_output_request import DAG, RUN_TIMEOUT, answer, new_folder, officers_of, submit

pytestmark = pytest.mark.e2e


def _refused(response, what):
    assert response.status_code == 403, (what, response.status_code, response.text[:300])


def test_a_data_owner_answers_their_own_signoff_and_can_write_nothing_else(
    airflow_server, srs, smtp_sink_session
):
    client = airflow_server
    ticket = submit(client, srs, "4567890", new_folder("4567890", "r_smith", srs=srs), "r_smith")
    run_id, stats_id = ticket.run_id, ticket.stats_id
    first, second = officers_of(client, srs, stats_id, run_id)
    client.wait_until_parked(DAG, run_id, "officer_1", -1)

    # The forgery of issue 10, as the data owner do_ashe (viewer): every step is refused.
    base = f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/officer_1"
    forged = {"chosen_options": ["Pass"], "responded_by_user": {"id": first, "name": first}}
    for who in ("do_ashe", first):  # not even the assigned officer may write the record
        _refused(
            client.request(
                "POST", f"{base}/xcomEntries", who, json={"key": "return_value", "value": forged}
            ),
            f"{who} POST xcomEntries",
        )
        _refused(
            client.request("PATCH", base, who, json={"new_state": "success"}),
            f"{who} PATCH task state",
        )
        _refused(
            client.request(
                "POST",
                f"/dags/{DAG}/clearTaskInstances",
                who,
                json={"dry_run": False, "task_ids": ["officer_1"], "dag_run_id": run_id},
            ),
            f"{who} clear tasks",
        )
        _refused(
            client.request(
                "POST",
                f"/dags/{DAG}/dagRuns",
                who,
                json={
                    "logical_date": None,
                    "conf": {"project": "4567890", "researcher": "r_smith"},
                },
            ),
            f"{who} trigger",
        )
        _refused(
            client.request(
                "PATCH", f"/dags/{DAG}/dagRuns/{run_id}", who, json={"state": "success"}
            ),
            f"{who} mark run success",
        )
        # Reads that would show an answer: XCom, task logs, the event log.
        _refused(client.request("GET", f"{base}/xcomEntries", who), f"{who} read XCom")
        _refused(client.request("GET", f"{base}/logs/1", who), f"{who} read task log")
        _refused(client.request("GET", "/eventLogs", who, params={"dag_id": DAG}), "event log")
    # What a viewer still reads: the run and its Required Actions.
    assert client.request("GET", f"/dags/{DAG}/dagRuns/{run_id}", "do_ashe").status_code == 200
    assert client.hitl_details(DAG, run_id, user="do_ashe")

    # Blinded: after one officer's answer, our view shows progress, not the answer.
    answer(client, run_id, "officer_1", "Pass", first)
    blinded = client.http.get(
        f"{client.base_url}/srs/api/requests/{stats_id}",
        headers={"Authorization": f"Bearer {client.token(second)}"},
    )
    assert blinded.status_code == 200, blinded.text
    assert blinded.json()["decisions"] == []
    assert blinded.json()["rounds"][-1]["progress"] == "1 of 2 answered"

    # ... and Airflow's own HITL reads (its Required Actions pages) show a viewer the answers
    # to their own tasks only; operations see every answer.
    def officer_1_seen_by(who):
        details = client.hitl_details(DAG, run_id, pending=None, user=who)
        one = next(d for d in details if d["task_instance"]["task_id"] == "officer_1")
        single = client.request(
            "GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/officer_1/-1/hitlDetails", who
        ).json()
        assert single["chosen_options"] == one["chosen_options"], who
        return one

    assert officer_1_seen_by(second)["chosen_options"] == []
    assert officer_1_seen_by(second)["responded_by_user"]["id"] == first  # who, not what
    assert officer_1_seen_by("do_ashe")["params_input"] == {}
    assert officer_1_seen_by(first)["chosen_options"] == ["Pass"]
    assert officer_1_seen_by("ops")["chosen_options"] == ["Pass"]
    answer(client, run_id, "officer_2", "Pass", second)

    client.wait_for_task(
        DAG, run_id, "data_owner_signoff[0]", {"awaiting_input"}, timeout=RUN_TIMEOUT
    )
    # The other data owner is not assigned; do_ashe (a viewer) answers: 200.
    not_theirs = client.respond(
        DAG, run_id, "data_owner_signoff", ["Approve"], {}, user="do_lfs", map_index=0
    )
    _refused(not_theirs, "do_lfs answering do_ashe's sign-off")
    answer(client, run_id, "data_owner_signoff", "Approve", "do_ashe", map_index=0)
    client.wait_for_run(DAG, run_id, {"success"}, timeout=RUN_TIMEOUT)
    decisions = srs.store.decisions(stats_id)
    assert [d.actor for d in decisions if d.role == "data_owner"] == ["do_ashe"]


def test_need_to_know_in_the_operator_view(airflow_server, srs):
    """Project 4567890 uses ASHE: its data owner and the officers read it; LFS's owner, a
    researcher and a login nobody registered do not, as page, JSON or report."""
    from include import request_steps as out

    ticket = out.register(
        srs,
        kind="output",
        project="4567890",
        folder="2026_12_02_Ntk_v1",
        requester="r_smith",
        via="e2e",
    )
    paths = (
        f"/srs/requests/{ticket.stats_id}",
        f"/srs/api/requests/{ticket.stats_id}",
    )
    for user, expected in (
        ("do_ashe", 200),
        ("officer_carol", 200),
        ("ops", 200),
        ("do_lfs", 403),
        ("r_jones", 403),
        ("viewer", 403),  # an Airflow login the registry does not know
    ):
        headers = {"Authorization": f"Bearer {airflow_server.token(user)}"}
        for path in paths:
            got = airflow_server.http.get(f"{airflow_server.base_url}{path}", headers=headers)
            assert got.status_code == expected, (user, path, got.text[:300])
        queue = airflow_server.http.get(
            f"{airflow_server.base_url}/srs/api/requests",
            headers=headers,
            params={"project": "4567890", "limit": 500},  # paged: this session's tickets, all
        )
        listed = queue.status_code == 200 and ticket.stats_id in queue.text
        assert listed == (expected == 200), (user, queue.status_code)
