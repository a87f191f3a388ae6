"""Output requests end to end: a real Airflow, the real mail sink, S3 on loopback (issue 4).

Driven through the REST API exactly as people would: trigger, answer Required Actions, read mail.
"""

from __future__ import annotations

import hashlib
import time
import uuid

import pytest

from include import request_steps as out
from include.demo import demo_form_bytes, write_demo_request
from include.mailsink import envelope_recipients
from include.queue_order import weight_of
from include.states import TicketState as S
from include.storage import Place

pytestmark = pytest.mark.e2e
DAG = "output_request"
RUN_TIMEOUT = 420


def new_folder(project: str = "1234567", researcher: str = "r_rahman", srs=None) -> str:
    folder = f"2026_11_25_E2E{uuid.uuid4().hex[:6]}_v1"
    write_demo_request(srs.storage, project, folder, researcher)
    return folder


def submit(client, srs, project: str, folder: str, researcher: str):
    """As `srs submit` does: register the ticket, start run `<STATS-ID>-r1` through the API."""
    ticket = out.register(srs, kind="output", project=project, folder=folder, requester=researcher, via="e2e")
    conf = {"project": project, "folder": folder, "researcher": researcher, "stats_id": ticket.stats_id}
    client.trigger(DAG, conf=conf, run_id=ticket.run_id)
    return ticket


def answer(client, run_id, task_id, option, user, map_index=-1, **params):
    response = client.respond(DAG, run_id, task_id, [option], params, user=user, map_index=map_index)
    assert response.status_code == 200, response.text


def officers_of(client, srs, stats_id, run_id):
    client.wait_for_hitl(DAG, run_id, "officer_1")
    client.wait_for_hitl(DAG, run_id, "officer_2")
    return srs.store.get(stats_id).assigned_officers


def mails_for(sink, stats_id):
    return [m for m in sink.messages() if m["Subject"].startswith(f"[{stats_id}]")]


def wait_mails(sink, stats_id, count, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = mails_for(sink, stats_id)
        if len(found) >= count:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{stats_id}: expected {count} emails, got {[m['Subject'] for m in mails_for(sink, stats_id)]}")


def test_happy_path_with_independence_snapshot_and_retried_release(airflow_server, srs, smtp_sink_session):
    client, sink = airflow_server, smtp_sink_session
    folder = new_folder(srs=srs)
    ticket = submit(client, srs, "1234567", folder, "r_rahman")
    run_id = ticket.run_id
    assert run_id == f"{ticket.stats_id}-r1"

    client.wait_for_task(DAG, run_id, "snapshot", {"success"})
    # Edited after submission: the officers and the researcher only ever see the snapshot.
    original = srs.storage.read_bytes(Place("1234567", "Ready for Checking", folder), "energy_by_tenure_region.csv")
    srs.storage.write_bytes(Place("1234567", "Ready for Checking", folder), "energy_by_tenure_region.csv", b"region,n\nE12000001,3\n")

    first, second = officers_of(client, srs, ticket.stats_id, run_id)
    assert first != second
    detail = client.wait_for_hitl(DAG, run_id, "officer_1")
    assert detail["assigned_users"] == [{"id": first, "name": srs.person(first).name}]
    assert "Automated checks: PASS" in detail["body"] and f"srs/requests/{ticket.stats_id}" in detail["body"]
    # Queue order: the sign-off's priority follows when the request was received.
    ti = client.request("GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/officer_1").json()
    assert ti["priority_weight"] == weight_of(srs.store.get(ticket.stats_id).queued_at)

    # Independence is enforced by Airflow: the first officer cannot answer the second task,
    # a researcher of the project can answer neither, operations cannot answer on their behalf.
    assert client.respond(DAG, run_id, "officer_2", ["Pass"], {}, user=first).status_code == 403
    assert client.respond(DAG, run_id, "officer_1", ["Pass"], {}, user="r_jones").status_code == 403
    assert client.respond(DAG, run_id, "officer_1", ["Pass"], {}, user="ops").status_code == 403

    answer(client, run_id, "officer_1", "Pass", first)
    answer(client, run_id, "officer_2", "Pass", second)
    client.wait_for_run(DAG, run_id, {"success"}, timeout=RUN_TIMEOUT)

    t = srs.store.get(ticket.stats_id)
    assert t.state == S.ARCHIVED
    mails = wait_mails(sink, ticket.stats_id, 2)
    assert mails[0]["Subject"] == f"[{ticket.stats_id}] Output request received for project 1234567"
    released = [m for m in mails if "Output cleared" in m["Subject"]]
    assert len(released) == 1
    manifest = out.snapshot_manifest(t)
    attached = {a.get_filename(): a.get_payload(decode=True) for a in released[0].iter_attachments()}
    assert sorted(attached) == ["energy_by_tenure_region.csv", "energy_model.py"]
    for name, data in attached.items():
        assert hashlib.sha256(data).hexdigest() == manifest.get(name).sha256
    assert attached["energy_by_tenure_region.csv"] == original
    assert "lfs.owner@dataowner.example" in envelope_recipients(released[0])  # LFS: for information
    assert "lfs.owner" not in released[0]["To"]

    archive = {f.path for f in srs.storage.list_files(srs.archive_place(t))}
    assert {"decisions.json", "audit.json", "ticket.json", "round1/manifest.json", "round1/check.html"} <= archive
    assert {"emails/ack-r1.eml", "emails/release.eml", f"round1/{folder}/energy_model.py"} <= archive
    decisions = srs.store.decisions(ticket.stats_id)
    assert {(d.actor, d.outcome) for d in decisions} == {(first, "Pass"), (second, "Pass")}

    # (7) A retried release sends no second email and releases nothing again.
    cleared = client.request(
        "POST", f"/dags/{DAG}/clearTaskInstances",
        json={"dag_run_id": run_id, "task_ids": ["release"], "dry_run": False, "only_failed": False},
    )
    assert cleared.status_code == 200, cleared.text
    client.wait_for_task(DAG, run_id, "release", {"success"}, timeout=RUN_TIMEOUT)
    client.wait_for_run(DAG, run_id, {"success"}, timeout=RUN_TIMEOUT)
    time.sleep(2)
    assert len([m for m in mails_for(sink, ticket.stats_id) if "Output cleared" in m["Subject"]]) == 1


def test_revisions_then_v2_released_in_round_two(airflow_server, srs, smtp_sink_session):
    client, sink = airflow_server, smtp_sink_session
    folder = new_folder(srs=srs)
    ticket = submit(client, srs, "1234567", folder, "r_rahman")
    run_id = ticket.run_id
    first, second = officers_of(client, srs, ticket.stats_id, run_id)

    # Airflow accepts a revision request without guidance; the pipeline does not: asked again.
    answer(client, run_id, "officer_1", "Request revisions", first, guidance="")
    deadline = time.monotonic() + 120
    while not any(e.action == "signoff_answer_refused" for e in srs.store.audit(ticket.stats_id)):
        assert time.monotonic() < deadline, "the empty-guidance answer was not refused"
        time.sleep(1)
    client.wait_for_task(DAG, run_id, "officer_1", {"awaiting_input"})
    time.sleep(4)  # let the scheduler see the re-parked try before answering (Airflow 3.3 race)
    answer(client, run_id, "officer_1", "Request revisions", first, guidance="Round the means to the nearest 10 kWh.")
    answer(client, run_id, "officer_2", "Query researcher", second, guidance="Which year do the counts cover?")
    client.wait_for_run(DAG, run_id, {"success"}, timeout=RUN_TIMEOUT)
    assert client.task_states(DAG, run_id)["release"] == "skipped"
    assert srs.store.get(ticket.stats_id).state == S.REVISIONS_REQUESTED
    revision = [m for m in wait_mails(sink, ticket.stats_id, 2) if "Revisions needed" in m["Subject"]]
    assert len(revision) == 1
    body = revision[0].get_content()
    assert "nearest 10 kWh" in body and "Which year" in body

    v2 = out.next_version(folder)
    place = Place("1234567", "Ready for Checking", v2)
    srs.storage.copy_folder(Place("1234567", "Ready for Checking", folder), place)
    srs.storage.write_bytes(place, "output_request_form.xlsx", demo_form_bytes("1234567", v2))
    run2 = f"{ticket.stats_id}-r2"
    conf = {"project": "1234567", "folder": v2, "researcher": "r_rahman", "stats_id": ticket.stats_id}
    client.trigger(DAG, conf=conf, run_id=run2)
    first, second = officers_of(client, srs, ticket.stats_id, run2)
    answer(client, run2, "officer_1", "Pass", first)
    answer(client, run2, "officer_2", "Pass", second)
    client.wait_for_run(DAG, run2, {"success"}, timeout=RUN_TIMEOUT)
    t = srs.store.get(ticket.stats_id)
    assert (t.state, t.round, t.folder) == (S.ARCHIVED, 2, v2)
    assert any("Output cleared" in m["Subject"] for m in mails_for(sink, ticket.stats_id))


def test_data_owner_for_approval(airflow_server, srs, smtp_sink_session):
    client = airflow_server
    folder = new_folder("4567890", "r_smith", srs=srs)
    ticket = submit(client, srs, "4567890", folder, "r_smith")
    run_id = ticket.run_id
    first, second = officers_of(client, srs, ticket.stats_id, run_id)
    answer(client, run_id, "officer_1", "Pass", first)
    answer(client, run_id, "officer_2", "Pass", second)
    # One mapped sign-off per for-approval dataset (ASHE here).
    client.wait_for_task(DAG, run_id, "data_owner_signoff[0]", {"awaiting_input"}, timeout=RUN_TIMEOUT)
    assert srs.store.get(ticket.stats_id).state == S.AWAITING_DATA_OWNER
    detail = next(d for d in client.hitl_details(DAG, run_id) if d["task_instance"]["task_id"] == "data_owner_signoff")
    assert detail["assigned_users"][0]["id"] == "do_ashe"
    assert client.respond(DAG, run_id, "data_owner_signoff", ["Approve"], {}, user="do_lfs", map_index=0).status_code == 403
    answer(client, run_id, "data_owner_signoff", "Approve", "do_ashe", map_index=0)
    client.wait_for_run(DAG, run_id, {"success"}, timeout=RUN_TIMEOUT)
    assert srs.store.get(ticket.stats_id).state == S.ARCHIVED
    assert any(d.role == "data_owner" and d.actor == "do_ashe" for d in srs.store.decisions(ticket.stats_id))


def test_exploratory_project_rejected_from_the_trigger_form(airflow_server, srs, smtp_sink_session):
    client, sink = airflow_server, smtp_sink_session
    folder = new_folder("2345678", "r_okafor", srs=srs)
    run_id = f"manual__{uuid.uuid4().hex[:8]}"
    # As the UI's trigger form does: no STATS-ID yet, intake makes the ticket.
    client.trigger(DAG, conf={"project": "2345678", "folder": folder, "researcher": "r_okafor", "stats_id": ""}, run_id=run_id)
    client.wait_for_run(DAG, run_id, {"success"}, timeout=RUN_TIMEOUT)
    states = client.task_states(DAG, run_id)
    assert states["intake"] == "success" and states["snapshot"] == "skipped"
    tickets = srs.store.find(details_match={"intake_run_id": run_id})
    assert len(tickets) == 1 and tickets[0].state == S.REJECTED
    mail = wait_mails(sink, tickets[0].stats_id, 1)[0]
    assert "only full projects may request outputs" in mail.get_content()


def test_released_tables_join_the_ledger_and_a_small_difference_is_blocked(airflow_server, srs, smtp_sink_session):
    """Issue #13 end to end: the release records its table in the project's ledger, and the next
    request's checks compare with it (one household more in one cell: differencing)."""
    from include import release_ledger, request_rounds

    client = airflow_server
    folder = new_folder(srs=srs)
    first = submit(client, srs, "1234567", folder, "r_rahman")
    a, b = officers_of(client, srs, first.stats_id, first.run_id)
    answer(client, first.run_id, "officer_1", "Pass", a)
    answer(client, first.run_id, "officer_2", "Pass", b)
    client.wait_for_run(DAG, first.run_id, {"success"}, timeout=RUN_TIMEOUT)
    assert [e.file for e in release_ledger.entries(srs.store, stats_id=first.stats_id)] == ["energy_by_tenure_region.csv"]

    folder2 = new_folder(srs=srs)
    place = Place("1234567", "Ready for Checking", folder2)
    table = srs.storage.read_bytes(place, "energy_by_tenure_region.csv")
    changed = table.replace(b"E12000001,Owner occupied,412,", b"E12000001,Owner occupied,415,")
    assert changed != table
    srs.storage.write_bytes(place, "energy_by_tenure_region.csv", changed)
    second = submit(client, srs, "1234567", folder2, "r_rahman")
    a, b = officers_of(client, srs, second.stats_id, second.run_id)
    detail = client.wait_for_hitl(DAG, second.run_id, "officer_1")
    assert "Automated checks: FAIL" in detail["body"] and "differencing" in detail["body"]
    checks = request_rounds.checks(srs.store.get(second.stats_id))
    found = [f for f in checks["blocking"] if f["rule"] == "differencing"]
    released_ids = {e.stats_id for e in release_ledger.entries(srs.store, project="1234567")}
    assert found and {f["related"]["source"] for f in found} <= released_ids and first.stats_id in released_ids
    answer(client, second.run_id, "officer_1", "Request revisions", a, guidance="Make the tables consistent.")
    answer(client, second.run_id, "officer_2", "Request revisions", b, guidance="See the differencing finding.")
    client.wait_for_run(DAG, second.run_id, {"success"}, timeout=RUN_TIMEOUT)
    assert srs.store.get(second.stats_id).state == S.REVISIONS_REQUESTED
    assert release_ledger.entries(srs.store, stats_id=second.stats_id) == []  # nothing released
