"""Ingest and transfer requests end to end (issue 5): a real Airflow, mail sink and S3 server."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from include.checks.ingest_form import IngestFile, IngestForm, write_ingest_form
from include.states import TicketState as S
from include.storage import INGEST, Place

pytestmark = pytest.mark.e2e
RUN_TIMEOUT = 420
FORM = "ingest_request_form.xlsx"


def lay_out(
    srs,
    tmp_path: Path,
    place: Place,
    files: dict[str, bytes],
    researcher: str,
    destination: str = "",
    project: str | None = None,
):
    """A request folder with ``files`` and an ingest form listing them with their columns."""
    for name, data in files.items():
        srs.storage.write_bytes(place, name, data)
    listed = [
        IngestFile(name, f"needed for {name}", data.split(b"\n")[0].decode().split(","))
        for name, data in files.items()
    ]
    form = IngestForm(
        project=project or place.project,
        researcher=researcher,
        folder=place.folder,
        date="2026-11-25",
        purpose="Lookups for the models in the project plan",
        destination=destination,
        files=listed,
    )
    srs.storage.write_bytes(
        place, FORM, write_ingest_form(tmp_path / f"{uuid.uuid4().hex}.xlsx", form).read_bytes()
    )


def start(client, dag_id: str, conf: dict) -> str:
    """As the trigger form does: intake makes the ticket."""
    run_id = f"manual__{uuid.uuid4().hex[:10]}"
    client.trigger(dag_id, conf={"stats_id": "", **conf}, run_id=run_id)
    return run_id


def ticket_of(srs, run_id: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = srs.store.find(details_match={"intake_run_id": run_id})
        if found:
            return found[0]
        time.sleep(1)
    raise AssertionError(f"no ticket for run {run_id}")


def mails_for(sink, stats_id):
    return [m for m in sink.messages() if m["Subject"].startswith(f"[{stats_id}]")]


def test_ingests_placed_or_blocked(airflow_server, srs, smtp_sink_session, tmp_path):
    client, sink = airflow_server, smtp_sink_session
    good, extra, ident = (f"2026_11_25_Lookup{uuid.uuid4().hex[:6]}_v1" for _ in range(3))
    lay_out(
        srs,
        tmp_path,
        Place("1234567", INGEST, good),
        {"lookup.csv": b"region,year,tenure\nE12000001,2023,Owner occupied\n"},
        "r_rahman",
    )
    lay_out(
        srs,
        tmp_path,
        Place("1234567", INGEST, extra),
        {"lookup.csv": b"region,year,shoe_size\nE12000001,2023,9\n"},
        "r_rahman",
    )
    lay_out(
        srs,
        tmp_path,
        Place("1234567", INGEST, ident),
        {"patients.csv": b"region,nhs_number\nE12000001,943 476 5919\n"},
        "r_rahman",
    )
    runs = {
        name: start(
            client,
            "ingest_request",
            {"project": "1234567", "folder": name, "researcher": "r_rahman"},
        )
        for name in (good, extra, ident)
    }

    # The clean ingest: one officer (the default), then placed in Input/<STATS-ID>/.
    t = ticket_of(srs, runs[good])
    client.wait_for_hitl("ingest_request", runs[good], "officer_1", timeout=RUN_TIMEOUT)
    t = srs.store.get(t.stats_id)
    assert len(t.assigned_officers) == 1
    response = client.respond(
        "ingest_request", runs[good], "officer_1", ["Pass"], {}, user=t.assigned_officers[0]
    )
    assert response.status_code == 200, response.text
    client.wait_for_run("ingest_request", runs[good], {"success"}, timeout=RUN_TIMEOUT)
    assert srs.store.get(t.stats_id).state == S.ARCHIVED
    placed = {f.path for f in srs.storage.list_files(Place("1234567", "Input", t.stats_id))}
    assert f"{good}/lookup.csv" in placed and "manifest.json" in placed
    assert not srs.storage.exists(Place("1234567", INGEST, good))  # landing area cleared
    assert any("Ingest placed" in m["Subject"] for m in mails_for(sink, t.stats_id))

    # Blocked: a superfluous column, and a direct identifier. Nothing placed; the researcher
    # is told which file and column.
    for name, column in ((extra, "shoe_size"), (ident, "nhs_number")):
        client.wait_for_run("ingest_request", runs[name], {"success"}, timeout=RUN_TIMEOUT)
        blocked = ticket_of(srs, runs[name])
        assert srs.store.get(blocked.stats_id).state == S.REVISIONS_REQUESTED
        assert not srs.storage.exists(Place("1234567", "Input", blocked.stats_id))
        revision = [
            m for m in mails_for(sink, blocked.stats_id) if "Revisions needed" in m["Subject"]
        ]
        assert len(revision) == 1, [m["Subject"] for m in mails_for(sink, blocked.stats_id)]
        body = revision[0].get_content()
        assert column in body and (".csv" in body), body


def test_transfers_placed_in_destination_or_refused(
    airflow_server, srs, smtp_sink_session, tmp_path
):
    client, sink = airflow_server, smtp_sink_session
    folder = f"2026_11_25_PayTables{uuid.uuid4().hex[:6]}_v1"
    source = Place("1234567", "Working", folder)
    lay_out(
        srs,
        tmp_path,
        source,
        {"pay.csv": b"sic2007,occupation,hourly_pay\n62,2136,31.5\n"},
        "r_rahman",
        destination="4567890",
    )
    before = srs.storage.manifest(source)
    conf = {
        "project": "1234567",
        "source_area": "Working",
        "folder": folder,
        "destination": "4567890",
    }
    # r_jones (not on 4567890) asks for a transfer of a folder of their own: one folder is one
    # open request, so a second request of r_rahman's folder would be refused as a duplicate.
    theirs = f"{folder[:-3]}J_v1"
    lay_out(
        srs,
        tmp_path,
        Place("1234567", "Working", theirs),
        {"pay.csv": b"sic2007,occupation,hourly_pay\n62,2136,31.5\n"},
        "r_jones",
        destination="4567890",
    )
    ok = start(client, "transfer_request", {**conf, "researcher": "r_rahman"})
    refused = start(client, "transfer_request", {**conf, "folder": theirs, "researcher": "r_jones"})

    client.wait_for_run("transfer_request", refused, {"success"}, timeout=RUN_TIMEOUT)
    r = ticket_of(srs, refused)
    assert r.state == S.REJECTED
    mail = [m for m in mails_for(sink, r.stats_id)]
    assert mail and "destination project 4567890" in mail[0].get_content()

    t = ticket_of(srs, ok)
    client.wait_for_hitl("transfer_request", ok, "officer_1", timeout=RUN_TIMEOUT)
    officer = srs.store.get(t.stats_id).assigned_officers[0]
    response = client.respond("transfer_request", ok, "officer_1", ["Pass"], {}, user=officer)
    assert response.status_code == 200, response.text
    client.wait_for_run("transfer_request", ok, {"success"}, timeout=RUN_TIMEOUT)
    t = srs.store.get(t.stats_id)
    assert t.state == S.ARCHIVED and t.destination_project == "4567890"
    assert srs.storage.exists(Place("4567890", "Input", f"{t.stats_id}/{folder}"), "pay.csv")
    assert not srs.storage.exists(Place("1234567", "Input", t.stats_id))  # destination only
    assert srs.storage.manifest(source) == before  # the source is never modified
