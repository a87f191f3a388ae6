"""Decisions rest on what Airflow recorded for a sign-off, never on a task's XCom or state."""

from __future__ import annotations

import pytest

from include import request_steps as out
from include.demo import DEMO_FOLDER, DEMO_PROJECT, write_demo_request
from include.permissions import NotPermitted
from include.signoff_record import read_answer, tampering
from include.states import TicketState as S

FORM = {
    "guidance": {"schema": {"title": "Guidance for the researcher"}},
    "file_1": {"schema": {"title": "Changes to energy.csv"}},
    "file_2": {"schema": {"title": "Changes to code/model.py"}},
    "exemption": {"schema": {"title": "Exemption reason"}},
}


def detail(user="officer_alice", options=("Pass",), answered=True, assigned=("officer_alice",), **params):
    return {
        "response_received": answered,
        "responded_by_user": {"id": user, "name": user} if answered else None,
        "responded_at": "2026-12-02T10:00:00Z" if answered else None,
        "chosen_options": list(options) if answered else None,
        "params_input": params,
        "params": FORM,
        "assigned_users": [{"id": a, "name": a} for a in assigned],
    }


class Records:
    """Airflow's REST API as the decision step reads it: task instances and HITL tries."""

    def __init__(self, state="success", tries=None):
        self.state, self.tries = state, tries or {}

    def task_instance(self, dag_id, run_id, task_id, map_index=-1):
        return {"task_id": task_id, "map_index": map_index, "state": self.state, "try_number": max(self.tries or [1])}

    def hitl_detail(self, dag_id, run_id, task_id, map_index, try_number):
        return self.tries.get(try_number)


def payload(d):
    return {
        "chosen_options": d["chosen_options"],
        "params_input": d["params_input"],
        "responded_at": d["responded_at"],
        "responded_by_user": d["responded_by_user"],
    }


def test_an_honest_answer_is_taken_with_its_per_file_guidance():
    d = detail(options=("Request revisions",), guidance="See below", file_1="Round n to 10", file_2="")
    answer = read_answer(Records(tries={1: d}), "output_request", "STATS00001-r1", "officer_1")
    assert tampering(answer, payload(d)) is None
    r = answer.response("officer_1")
    assert (r.user, r.option, r.guidance) == ("officer_alice", "Request revisions", "See below")
    assert r.files == (("energy.csv", "Round n to 10"),)
    assert r.at is not None and r.at.tzinfo is not None


def test_marked_success_without_an_answer_is_tampering():
    answer = read_answer(Records(tries={1: detail(answered=False)}), "d", "r", "officer_1")
    assert "recorded no answer" in tampering(answer, {"chosen_options": ["Pass"]})


def test_a_forged_xcom_naming_someone_else_is_tampering():
    d = detail(user="officer_alice")
    answer = read_answer(Records(tries={1: d}), "d", "r", "officer_1")
    forged = {**payload(d), "responded_by_user": {"id": "officer_carol"}}
    assert "officer_carol" in tampering(answer, forged)
    assert "XCom" in tampering(answer, {**payload(d), "chosen_options": ["Request revisions"]})
    assert "no result" in tampering(answer, None)


def test_an_answer_by_someone_not_asked_is_tampering():
    d = detail(user="do_lfs", assigned=("officer_alice",))
    answer = read_answer(Records(tries={1: d}), "d", "r", "officer_1")
    assert "was not asked" in tampering(answer, payload(d))


def test_an_answer_recorded_in_a_failed_earlier_try_counts():
    """Airflow 3.3 can fail a task answered as it parks; the retry's record has no answer."""
    d = detail()
    answer = read_answer(Records(tries={1: d, 2: detail(answered=False)}), "d", "r", "officer_1")
    assert answer.responded and answer.try_number == 1 and answer.user == "officer_alice"


def test_a_task_that_never_asked_anyone_has_no_answer():
    answer = read_answer(Records(state="success", tries={}), "d", "r", "officer_1")
    assert not answer.responded and "recorded no answer" in tampering(answer, None)


# --- intake: who may start a run, and which run may act on a ticket -------------------------


@pytest.fixture
def p(demo_pipeline):
    write_demo_request(demo_pipeline.storage)
    return demo_pipeline


def start(p, started_by="ops", run_id="manual__1", **kw):
    return out.intake(
        p, project=DEMO_PROJECT, folder=DEMO_FOLDER, requester="r_rahman", run_id=run_id, started_by=started_by, **kw
    )


@pytest.mark.parametrize("who", ["do_lfs", "officer_alice", "r_rahman", None, "nobody"])
def test_only_operations_and_the_service_start_runs(p, who):
    with pytest.raises(NotPermitted, match="refused"):
        start(p, started_by=who)
    assert p.store.find() == []  # no ticket made


def test_the_starter_is_recorded_beside_the_researcher(p):
    result = start(p)
    [event] = [e for e in p.store.audit(result.stats_id) if e.action == "run_started"]
    assert event.actor == "ops"
    assert event.details == {"run_id": "manual__1", "started_by": "ops", "researcher": "r_rahman"}


def test_a_second_run_for_a_ticket_is_refused(p):
    ticket = out.register(
        p, kind="output", project=DEMO_PROJECT, folder=DEMO_FOLDER, requester="r_rahman", via="test"
    )
    assert start(p, run_id=ticket.run_id, stats_id=ticket.stats_id).accepted
    with pytest.raises(NotPermitted, match="only run that may act on it now"):
        start(p, run_id="manual__again", stats_id=ticket.stats_id)
    refused_by_other = [e for e in p.store.audit(ticket.stats_id) if e.action == "run_refused"]
    assert refused_by_other == []  # refused for the round, not for who started it
    assert out.ticket_of_run(p, ticket.run_id).stats_id == ticket.stats_id
    with pytest.raises(NotPermitted, match="earlier round"):
        out.ticket_of_run(p, f"{ticket.stats_id}-r7")


def test_a_refused_starter_naming_a_ticket_is_audited(p):
    ticket = out.register(
        p, kind="output", project=DEMO_PROJECT, folder=DEMO_FOLDER, requester="r_rahman", via="test"
    )
    with pytest.raises(NotPermitted):
        start(p, started_by="do_lfs", run_id=ticket.run_id, stats_id=ticket.stats_id)
    [event] = [e for e in p.store.audit(ticket.stats_id) if e.action == "run_refused"]
    assert event.actor == "do_lfs" and "may not start request runs" in event.details["reason"]


def test_tampered_sign_offs_hold_the_request_and_tell_operations(p, smtp_sink):
    result = start(p)
    out.take_snapshot(p, result.stats_id)
    out.run_checks(p, result.stats_id)
    changes = [{"when": "2026-12-02T10:00:00Z", "owner": "do_lfs", "event": "patch_task_instance", "task_id": "officer_1"}]
    ticket = out.hold_tampered_signoffs(p, result.stats_id, ["officer_1 is 'success' but ..."], changes)
    assert ticket.state == S.SIGNOFF_HELD
    [event] = [e for e in p.store.audit(result.stats_id) if e.action == "signoff_tampering"]
    assert event.details["changes"][0]["owner"] == "do_lfs"
    with pytest.raises(Exception, match="signoff_held"):
        out.release(p, result.stats_id)
    [mail] = [m for m in smtp_sink.messages() if "request held" in m["Subject"]]
    assert "do_lfs patch_task_instance officer_1" in mail.get_content()


def test_who_changed_what_is_what_people_did_through_the_api():
    from include.signoff_record import changes_through_the_api

    log = [
        {"owner": "srs-operations", "event": "running", "extra": None},
        {"owner": "ops", "event": "get_task_instance", "extra": '{"method": "GET"}'},
        {"owner": "do_lfs", "event": "patch_task_instance", "extra": '{"method": "PATCH", "new_state": "success"}'},
        {"owner": "do_lfs", "event": "create_xcom_entry", "extra": '{"method": "POST"}'},
    ]
    assert [c["event"] for c in changes_through_the_api(log)] == ["patch_task_instance", "create_xcom_entry"]


def test_the_revisions_email_lists_guidance_file_by_file(p, smtp_sink):
    from include.signoff_record import Response

    result = start(p)
    out.take_snapshot(p, result.stats_id)
    out.run_checks(p, result.stats_id)
    first, second = p.store.get(result.stats_id).assigned_officers
    responses = [
        Response("officer_1", first, "Request revisions", files=(("energy_by_tenure_region.csv", "Round n to 10."),)),
        Response("officer_2", second, "Query researcher", guidance="Which year?\nFrom 2023?",
                 files=(("energy_by_tenure_region.csv", "Say which year."), ("energy_model.py", "Drop line 3."))),
    ]
    assert out.officers_decision(p, result.stats_id, responses) == "revisions"
    [d1, d2] = p.store.decisions(result.stats_id)
    assert d2.files == (("energy_by_tenure_region.csv", "Say which year."), ("energy_model.py", "Drop line 3."))
    out.request_revisions(p, result.stats_id)
    [mail] = [m for m in smtp_sink.messages() if "Revisions needed" in m["Subject"]]
    body = mail.get_content()
    table = body.index("  energy_by_tenure_region.csv")
    assert body.index("Round n to 10.") > table and body.index("Say which year.") > table
    assert body.index("  energy_model.py") < body.index("Drop line 3.")
    assert "\nFrom 2023?" in body or "  From 2023?" in body  # not mangled to '>From'


def test_revisions_without_any_guidance_are_refused_but_per_file_guidance_counts(p):
    from include.signoffs import validate_response

    assert "needs guidance" in validate_response("Request revisions", "", "", blocking=0)
    assert validate_response("Request revisions", "", "", blocking=0, files=[("a.csv", "fix")]) is None


def test_only_operations_reopen_a_held_request_and_say_why(p, smtp_sink):
    result = start(p)
    out.take_snapshot(p, result.stats_id)
    out.run_checks(p, result.stats_id)
    out.hold_tampered_signoffs(p, result.stats_id, ["officer_1 is 'success' but ..."], [])
    with pytest.raises(NotPermitted, match="say why"):
        out.reopen_signoffs(p, result.stats_id, actor="ops", reason=" ")
    with pytest.raises(NotPermitted, match="may not reopen held sign-offs"):
        out.reopen_signoffs(p, result.stats_id, actor="officer_alice", reason="looked")
    ticket = out.reopen_signoffs(p, result.stats_id, actor="ops", reason="a test run marked by mistake")
    assert ticket.state == S.AWAITING_OFFICERS
    assert p.store.audit(result.stats_id)[-1].details["reopened_because"] == "a test run marked by mistake"
