"""The acknowledgement of a resubmission says it is round N of the same request, not a new one."""

from __future__ import annotations

from datetime import UTC, datetime

from include import request_steps as out
from include.demo import DEMO_FOLDER, DEMO_PROJECT, demo_form_bytes, write_demo_request
from include.notifications import render
from include.registry import Person
from include.states import TicketState
from include.storage import Place
from include.tickets import Ticket

READY = "Ready for Checking"


def _ticket(round: int) -> Ticket:
    at = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    return Ticket(
        stats_id="STATS00042",
        kind="output",
        project="1234567",
        destination_project=None,
        requester="r_rahman",
        folder=f"2026_11_20_Energy_v{round}",
        round=round,
        state=TicketState.CHECKING,
        received_at=at,
        queued_at=at.replace(day=27),
        updated_at=at,
        assigned_officers=(),
    )


def _ack(ticket: Ticket):
    return render(
        "acknowledgement",
        ticket.stats_id,
        ticket=ticket,
        requester=Person("r_rahman", "Dr Rahman", "r@uni.example"),
        kind=ticket.kind,
        project=None,
        next_version="x_v9",
    )


def test_first_round_is_a_new_request():
    mail = _ack(_ticket(1))
    assert mail.subject == "[STATS00042] Output request received for project 1234567"
    assert "given the reference STATS00042" in mail.body
    assert "round" not in mail.body.split("A copy")[0]


def test_later_round_says_which_round_of_the_same_request():
    mail = _ack(_ticket(2))
    assert mail.subject == (
        "[STATS00042] Output request resubmitted: round 2 of STATS00042, project 1234567"
    )
    assert "round 2 of the same output request" in mail.body
    assert "STATS00042" in mail.body and "not a new request" in mail.body
    assert "given the reference" not in mail.body
    assert "27/11/2026 09:30" in mail.body  # when this round arrived, not the first
    three = _ack(_ticket(3))
    assert "round 3 of STATS00042" in three.subject


def test_resubmission_sends_a_round_two_acknowledgement(demo_pipeline, smtp_sink):
    p = demo_pipeline
    write_demo_request(p.storage)
    first = out.intake(
        p,
        started_by="ops",
        project=DEMO_PROJECT,
        folder=DEMO_FOLDER,
        requester="r_rahman",
        run_id="manual__1",
    )
    t = p.store.get(first.stats_id)
    out.take_snapshot(p, t.stats_id)
    out.run_checks(p, t.stats_id)
    responses = [
        out.Response("officer_1", t.assigned_officers[0], "Request revisions", guidance="Round."),
        out.Response("officer_2", t.assigned_officers[1], "Pass"),
    ]
    assert out.officers_decision(p, t.stats_id, responses) == "revisions"
    out.request_revisions(p, t.stats_id)
    v2 = DEMO_FOLDER.replace("_v1", "_v2")
    p.storage.copy_folder(Place(DEMO_PROJECT, READY, DEMO_FOLDER), Place(DEMO_PROJECT, READY, v2))
    p.storage.write_bytes(
        Place(DEMO_PROJECT, READY, v2),
        "output_request_form.xlsx",
        demo_form_bytes(DEMO_PROJECT, v2),
    )
    smtp_sink.clear()
    r2 = out.intake(
        p,
        started_by="ops",
        project=DEMO_PROJECT,
        folder=v2,
        requester="r_rahman",
        run_id=f"{t.stats_id}-r2",
        stats_id=t.stats_id,
    )
    assert r2.round == 2
    [ack] = smtp_sink.wait_for(1)
    assert ack["Subject"] == (
        f"[{t.stats_id}] Output request resubmitted: round 2 of {t.stats_id}, project {DEMO_PROJECT}"
    )
    assert "round 2 of the same output request" in ack.get_content()
