"""The project-closure sweep end to end: a request waiting on officers when its project ends."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
import yaml

from include import request_steps as out
from include.db import session_scope
from include.demo import write_demo_request
from include.registry import load
from include.registry_file import parse_registry
from include.states import TicketState as S
from tests.e2e.conftest import REPO

pytestmark = pytest.mark.e2e
DAG = "output_request"
SWEEP = "project_closure_sweep"
RUN_TIMEOUT = 420


def load_project(srs, number: str, end_date) -> None:
    """The demo registry plus a copy of project 1234567 under ``number`` (r_jones only)."""
    doc = yaml.safe_load((REPO / "demo" / "registry.yaml").read_text())
    template = next(p for p in doc["projects"] if str(p["number"]) == "1234567")
    project = {
        **template,
        "number": number,
        "title": f"E2E closure {number}",
        "researchers": ["r_jones"],
        "end_date": end_date,
    }
    doc["projects"] = [project]
    with session_scope(srs.settings.database_url) as session:
        load(session, parse_registry(yaml.safe_dump(doc, sort_keys=False), "e2e registry"))


def test_project_end_closes_a_request_waiting_on_officers(airflow_server, srs, smtp_sink_session):
    client, sink = airflow_server, smtp_sink_session
    number = f"7{uuid.uuid4().int % 1_000_000:06d}"
    load_project(srs, number, srs.today() + timedelta(days=30))
    srs.storage.ensure_project(number)
    folder = f"2026_11_25_E2EClosure{uuid.uuid4().hex[:6]}_v1"
    write_demo_request(srs.storage, number, folder, "r_jones")
    ticket = out.register(
        srs, kind="output", project=number, folder=folder, requester="r_jones", via="e2e"
    )
    run_id = ticket.run_id
    conf = {
        "project": number,
        "folder": folder,
        "researcher": "r_jones",
        "stats_id": ticket.stats_id,
    }
    client.trigger(DAG, conf=conf, run_id=run_id)
    client.wait_for_hitl(DAG, run_id, "officer_1", timeout=RUN_TIMEOUT)
    client.wait_for_hitl(DAG, run_id, "officer_2", timeout=RUN_TIMEOUT)
    assert srs.store.get(ticket.stats_id).state == S.AWAITING_OFFICERS

    # The project ends (its end date moves into the past); the daily sweep runs.
    ended_on = srs.today() - timedelta(days=1)
    load_project(srs, number, ended_on)
    sweep_run = f"e2e_closure_{uuid.uuid4().hex[:8]}"
    try:
        client.trigger(SWEEP, run_id=sweep_run)
        client.wait_for_run(SWEEP, sweep_run, {"success"}, timeout=RUN_TIMEOUT)
    finally:  # no daily runs in the rest of the session
        client.request("PATCH", f"/dags/{SWEEP}", json={"is_paused": True})

    # The request's run finishes as a success, with a note saying why; nothing is released.
    run = client.wait_for_run(DAG, run_id, {"success"}, timeout=RUN_TIMEOUT)
    assert run["note"].startswith(f"Closed: project {number} ended on {ended_on.isoformat()}"), run
    states = client.task_states(DAG, run_id)
    assert states["officer_1"] == states["officer_2"] == "skipped", states
    assert states["release"] == states["archive"] == "skipped", states
    # No Required Action is left (the UI lists unanswered ones of waiting tasks).
    pending = client.request(
        "GET",
        f"/dags/{DAG}/dagRuns/{run_id}/hitlDetails",
        params={"response_received": "false", "state": ["awaiting_input", "deferred"]},
    ).json()["hitl_details"]
    assert pending == []
    # Airflow keeps the unanswered details of the skipped tasks, but no longer as waiting tasks.
    assert {d["task_instance"]["state"] for d in client.hitl_details(DAG, run_id)} <= {"skipped"}

    t = srs.store.get(ticket.stats_id)
    assert t.state == S.CLOSED_PROJECT_ENDED
    assert t.details["closure_run"]["skipped"] == ["officer_1", "officer_2"]
    closing = [e for e in srs.store.audit(t.stats_id) if e.to_state == S.CLOSED_PROJECT_ENDED]
    assert len(closing) == 1 and closing[0].details["rule"] == "project_closed"

    deadline = time.monotonic() + 30
    while not any(
        "has ended" in m["Subject"]
        for m in sink.messages()
        if m["Subject"].startswith(f"[{t.stats_id}]")
    ):
        assert time.monotonic() < deadline, "no closure email"
        time.sleep(0.5)
    mine = [m["Subject"] for m in sink.messages() if m["Subject"].startswith(f"[{t.stats_id}]")]
    assert [s for s in mine if "has ended" in s] == [
        f"[{t.stats_id}] Output request closed: project {number} has ended"
    ]
    assert not any("cleared" in s for s in mine)


def test_intake_sweep_starts_each_new_folder_once(airflow_server, srs):
    client = airflow_server
    number = f"8{uuid.uuid4().int % 1_000_000:06d}"
    load_project(srs, number, srs.today() + timedelta(days=30))
    srs.storage.ensure_project(number)
    folder = f"2026_11_25_E2ESweep{uuid.uuid4().hex[:6]}_v1"
    write_demo_request(srs.storage, number, folder, "r_jones")

    for attempt in (1, 2):  # a second sweep starts nothing new
        run_id = f"sweep-{attempt}-{uuid.uuid4().hex[:8]}"
        client.trigger("intake_sweep", conf={}, run_id=run_id)
        client.wait_for_run("intake_sweep", run_id, {"success"}, timeout=RUN_TIMEOUT)
        tickets = srs.store.find(project=number)
        assert [t.folder for t in tickets] == [folder], tickets
    ticket = tickets[0]
    assert ticket.details.get("submitted_via")
    run = client.dag_run(DAG, ticket.run_id)  # the request's own run, named after its ticket
    assert run["conf"]["stats_id"] == ticket.stats_id
    client.wait_for_hitl(DAG, ticket.run_id, "officer_1", timeout=RUN_TIMEOUT)
