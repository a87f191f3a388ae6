"""Sign-offs rest on what Airflow authenticated (issue 10), tried as an attacker would.

Every Airflow user with write access to a run can write a task's XCom and set its state; the
pipeline must believe neither. Operations (admin) can do both, so the forgeries here are made as
``ops``: whatever the auth manager allows, a forged sign-off must never release or place
anything. Invariant asserted from the ticket store, the storage and the mail sink: nothing
released or placed unsigned, the ticket held where operations see it, who changed what kept.
"""

from __future__ import annotations

import time
import uuid

import pytest

from include.demo import write_demo_request
from include.states import TicketState as S
from include.storage import INGEST, Place
from tests.e2e.test_ingest_transfer import lay_out, start, ticket_of
from tests.e2e.test_output_request import mails_for, new_folder, officers_of, submit

pytestmark = pytest.mark.e2e
RUN_TIMEOUT = 420


def forge(client, dag_id, run_id, task_id, passed_by, map_index=-1, option="Pass"):
    """Write the result a real answer would leave, then mark the task done, as ``ops``."""
    suffix = "" if map_index < 0 else f"/{map_index}"
    value = {
        "chosen_options": [option],
        "params_input": {"guidance": "", "exemption": ""},
        "responded_at": "2026-12-02T09:00:00+00:00",
        "responded_by_user": {"id": passed_by, "name": passed_by},
    }
    base = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
    written = client.request(
        "POST", f"{base}/xcomEntries", json={"key": "return_value", "value": value, "map_index": map_index}
    )
    assert written.status_code == 201, written.text
    marked = client.request("PATCH", f"{base}{suffix}", json={"new_state": "success"})
    assert marked.status_code == 200, marked.text


def assert_held(client, srs, sink, dag_id, run_id, stats_id, task_id):
    client.wait_for_task(dag_id, run_id, task_id, {"failed"}, timeout=RUN_TIMEOUT)
    ticket = srs.store.get(stats_id)
    assert ticket.state == S.SIGNOFF_HELD
    [event] = [e for e in srs.store.audit(stats_id) if e.action == "signoff_tampering"]
    assert any("recorded no answer" in p for p in event.details["problems"])
    # Airflow's audit log names who set the state and wrote the result.
    assert {"ops"} <= {c["owner"] for c in event.details["changes"]}
    deadline = time.monotonic() + 30
    while not [m for m in mails_for(sink, stats_id) if "request held" in m["Subject"]]:
        assert time.monotonic() < deadline, "operations were not told"
        time.sleep(0.5)
    return ticket


def test_forged_officer_passes_release_nothing(airflow_server, srs, smtp_sink_session):
    client, sink = airflow_server, smtp_sink_session
    ticket = submit(client, srs, "1234567", new_folder(srs=srs), "r_rahman")
    run_id = ticket.run_id
    first, second = officers_of(client, srs, ticket.stats_id, run_id)
    forge(client, "output_request", run_id, "officer_1", first)
    forge(client, "output_request", run_id, "officer_2", second)
    held = assert_held(client, srs, sink, "output_request", run_id, ticket.stats_id, "officers_decision")
    assert srs.store.decisions(ticket.stats_id) == []
    states = client.task_states("output_request", run_id)
    assert states["release"] in ("upstream_failed", None) and states["archive"] in ("upstream_failed", None)
    assert not any("Output cleared" in m["Subject"] for m in mails_for(sink, ticket.stats_id))
    assert held.state == S.SIGNOFF_HELD


def test_a_genuine_pass_and_a_forged_one_release_nothing(airflow_server, srs, smtp_sink_session):
    client, sink = airflow_server, smtp_sink_session
    ticket = submit(client, srs, "1234567", new_folder(srs=srs), "r_rahman")
    run_id = ticket.run_id
    first, second = officers_of(client, srs, ticket.stats_id, run_id)
    assert client.respond("output_request", run_id, "officer_1", ["Pass"], {}, user=first).status_code == 200
    client.wait_for_task("output_request", run_id, "officer_1", {"success"}, timeout=RUN_TIMEOUT)
    forge(client, "output_request", run_id, "officer_2", second)
    assert_held(client, srs, sink, "output_request", run_id, ticket.stats_id, "officers_decision")
    assert not any("Output cleared" in m["Subject"] for m in mails_for(sink, ticket.stats_id))


def test_a_forged_data_owner_approval_releases_nothing(airflow_server, srs, smtp_sink_session):
    client, sink = airflow_server, smtp_sink_session
    ticket = submit(client, srs, "4567890", new_folder("4567890", "r_smith", srs=srs), "r_smith")
    run_id = ticket.run_id
    first, second = officers_of(client, srs, ticket.stats_id, run_id)
    for task, who in (("officer_1", first), ("officer_2", second)):
        assert client.respond("output_request", run_id, task, ["Pass"], {}, user=who).status_code == 200
    client.wait_for_task("output_request", run_id, "data_owner_signoff[0]", {"awaiting_input"}, timeout=RUN_TIMEOUT)
    forge(client, "output_request", run_id, "data_owner_signoff", "do_ashe", map_index=0, option="Approve")
    assert_held(client, srs, sink, "output_request", run_id, ticket.stats_id, "data_owners_decision")
    assert not any(d.role == "data_owner" for d in srs.store.decisions(ticket.stats_id))
    assert not any("Output cleared" in m["Subject"] for m in mails_for(sink, ticket.stats_id))


@pytest.mark.parametrize("kind", ["ingest", "transfer"])
def test_a_forged_officer_pass_places_nothing(airflow_server, srs, smtp_sink_session, tmp_path, kind):
    client, sink = airflow_server, smtp_sink_session
    folder = f"2026_12_02_Forged{uuid.uuid4().hex[:6]}_v1"
    files = {"lookup.csv": b"region,year,tenure\nE12000001,2023,Owner occupied\n"}
    conf = {"project": "1234567", "folder": folder, "researcher": "r_rahman"}
    if kind == "ingest":
        source, destination = Place("1234567", INGEST, folder), "1234567"
        lay_out(srs, tmp_path, source, files, "r_rahman")
    else:
        source, destination = Place("1234567", "Working", folder), "4567890"
        files = {"pay.csv": b"sic2007,occupation,hourly_pay\n62,2136,31.5\n"}
        lay_out(srs, tmp_path, source, files, "r_rahman", destination=destination)
        conf |= {"source_area": "Working", "destination": destination}
    dag_id = f"{kind}_request"
    run_id = start(client, dag_id, conf)
    ticket = ticket_of(srs, run_id)
    client.wait_for_hitl(dag_id, run_id, "officer_1", timeout=RUN_TIMEOUT)
    officer = srs.store.get(ticket.stats_id).assigned_officers[0]
    forge(client, dag_id, run_id, "officer_1", officer)
    assert_held(client, srs, sink, dag_id, run_id, ticket.stats_id, "officers_decision")
    assert not srs.storage.exists(Place(destination, "Input", ticket.stats_id))
    assert srs.storage.exists(source, next(iter(files)))  # the researcher's folder is untouched


def test_a_second_run_for_a_ticket_asks_nobody(airflow_server, srs, smtp_sink_session):
    client = airflow_server
    folder = new_folder(srs=srs)
    ticket = submit(client, srs, "1234567", folder, "r_rahman")
    officers_of(client, srs, ticket.stats_id, ticket.run_id)
    again = f"manual__again_{uuid.uuid4().hex[:6]}"
    conf = {"project": "1234567", "folder": folder, "researcher": "r_smith", "stats_id": ticket.stats_id}
    client.trigger("output_request", conf=conf, run_id=again)
    client.wait_for_run("output_request", again, {"failed"}, timeout=RUN_TIMEOUT)
    states = client.task_states("output_request", again)
    assert states["intake"] == "failed" and states.get("officer_1") in ("upstream_failed", None)
    assert "only run that may act on it now" in client.task_log("output_request", again, "intake")
    assert srs.store.get(ticket.stats_id).requester == "r_rahman"


def test_a_run_started_by_a_data_owner_makes_no_ticket(airflow_server, srs, smtp_sink_session):
    """Refused by Airflow (the narrow role cannot trigger) or, if it could, by intake."""
    client = airflow_server
    folder = f"2026_12_02_Forged{uuid.uuid4().hex[:6]}_v1"
    write_demo_request(srs.storage, "1234567", folder, "r_smith")
    run_id = f"manual__forged_{uuid.uuid4().hex[:6]}"
    conf = {"project": "1234567", "folder": folder, "researcher": "r_smith", "stats_id": ""}
    client.unpause("output_request")
    started = client.request("POST", "/dags/output_request/dagRuns", "do_lfs", json={"dag_run_id": run_id, "logical_date": None, "conf": conf})
    if started.status_code == 200:
        client.wait_for_run("output_request", run_id, {"failed"}, timeout=RUN_TIMEOUT)
        assert "may not start request runs" in client.task_log("output_request", run_id, "intake")
    else:
        assert started.status_code == 403, started.text
    assert [t for t in srs.store.find(project="1234567") if t.folder == folder] == []


def test_an_answer_given_as_the_task_parks_is_honoured(airflow_server, srs, smtp_sink_session):
    """Airflow 3.3 fails a sign-off answered before the scheduler saw it park; the retry takes
    the recorded answer instead of stranding the ticket."""
    client = airflow_server
    ticket = submit(client, srs, "1234567", new_folder(srs=srs), "r_rahman")
    run_id = ticket.run_id
    first, second = officers_of(client, srs, ticket.stats_id, run_id)
    for task, who in (("officer_1", first), ("officer_2", second)):
        answered = client.respond("output_request", run_id, task, ["Pass"], {}, user=who, settle=False)
        assert answered.status_code == 200, answered.text
    client.wait_for_run("output_request", run_id, {"success"}, timeout=RUN_TIMEOUT)
    assert srs.store.get(ticket.stats_id).state == S.ARCHIVED
    assert {(d.actor, d.outcome) for d in srs.store.decisions(ticket.stats_id)} == {(first, "Pass"), (second, "Pass")}
