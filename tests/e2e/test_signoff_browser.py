"""Sign-offs made in Airflow's own UI, in real headless Chromium (issue 10).

Each person logs in through Airflow's login page as themselves, opens their Required Action,
types into the form and clicks an option, exactly as officers and data owners do. Each test
then checks the outcome in the ticket store (state, decisions, audit), in the mail the
researcher receives, and on the page. Screenshots go to ``test-artifacts/browser/``.

The five output requests are submitted together at the start (their checks run while the first
test answers), so the module stays within a few minutes.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest

from include import request_steps as out
from include.demo import write_demo_request
from include.states import TicketState as S
from include.storage import Place
from tests.e2e import browser
from tests.e2e.browser import (
    choose,
    field,
    fill_field,
    open_required_action,
    screenshot,
    wait_for_text,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]
chromium, browser_as = browser.chromium, browser.browser_as  # the helper's fixtures, used here

DAG = "output_request"
PROBE = "e2e_browser_probe"
RUN_TIMEOUT = 240
TABLE = "energy_by_tenure_region.csv"
CODE = "energy_model.py"
GUIDANCE = "Guidance for the researcher"
EXEMPTION = "Exemption reason"
REFUSED = "Your answer was not accepted:"  # the task note Airflow shows on the page


# --- requests, submitted as `srs submit` does -------------------------------------------------


def _submit(client, srs, project: str, researcher: str, *, blocked: bool = False):
    folder = f"2026_12_02_Browser{uuid.uuid4().hex[:6]}_v1"
    write_demo_request(srs.storage, project, folder, researcher)
    if blocked:
        # One cell of 3 households: below every project's threshold, a blocking finding.
        place = Place(project, "Ready for Checking", folder)
        table = srs.storage.read_bytes(place, TABLE).decode()
        srs.storage.write_bytes(place, TABLE, table.replace(",412,", ",3,", 1).encode())
    ticket = out.register(
        srs, kind="output", project=project, folder=folder, requester=researcher, via="e2e"
    )
    conf = {
        "project": project,
        "folder": folder,
        "researcher": researcher,
        "stats_id": ticket.stats_id,
    }
    client.trigger(DAG, conf=conf, run_id=ticket.run_id, unpause=False)
    return ticket


@pytest.fixture(scope="module")
def requests_(airflow_server, srs) -> dict[str, Any]:
    client = airflow_server
    client.unpause(DAG)
    return {
        "pass": _submit(client, srs, "1234567", "r_rahman"),
        "revisions": _submit(client, srs, "1234567", "r_rahman"),
        "exemption": _submit(client, srs, "1234567", "r_jones", blocked=True),
        "refused": _submit(client, srs, "1234567", "r_rahman"),
        "data_owner": _submit(client, srs, "4567890", "r_smith"),
    }


def _officers(client, srs, ticket) -> tuple[str, str]:
    for task_id in ("officer_1", "officer_2"):
        client.wait_for_hitl(DAG, ticket.run_id, task_id, timeout=RUN_TIMEOUT)
    first, second = srs.store.get(ticket.stats_id).assigned_officers
    return first, second


def _researcher_mails(sink, srs, ticket, subject: str, timeout: float = 60) -> list:
    email = srs.person(ticket.requester).email
    deadline = time.monotonic() + timeout
    while True:
        found = [
            m
            for m in sink.messages()
            if m["Subject"].startswith(f"[{ticket.stats_id}]")
            and subject in m["Subject"]
            and email in (m["To"] or "")
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def _answer(
    page, client, run_id: str, task_id: str, option: str, map_index: int = -1, dag_id: str = DAG
) -> None:
    # A person answers minutes after the task parks; a test answers at once, so it first waits
    # until the scheduler has seen the task park (Airflow 3.3's resume race, issue 10 item 5).
    client.wait_until_parked(dag_id, run_id, task_id, map_index)
    choose(page, option)


def _form_titles(page) -> list[str]:
    labels = page.locator('[data-scope="field"][data-part="label"]').all_inner_texts()
    return [re.sub(r"\s*\*\s*$", "", t).strip() for t in labels]


def _assert_officer_form(page, ticket, srs) -> None:
    """The officer's form as the contract says: options, then guidance, a box per file, exemption."""
    for option in ("Pass", "Request revisions", "Query researcher"):
        assert page.get_by_test_id(f"hitl-option-{option}").is_visible(), option
    titles = _form_titles(page)
    assert titles[0] == GUIDANCE and titles[-1] == EXEMPTION, titles
    files = titles[1:-1]
    assert f"Changes to {TABLE}" in files and f"Changes to {CODE}" in files, titles
    in_folder = {
        f"Changes to {f.path}"
        for f in srs.storage.list_files(Place(ticket.project, "Ready for Checking", ticket.folder))
    }
    assert set(files) <= in_folder, (files, in_folder)
    for title in titles:
        assert field(page, title).evaluate("e => e.tagName") == "TEXTAREA", title
    # Nothing is required of an officer who passes a clean request: the buttons are usable.
    assert not page.get_by_test_id("hitl-option-Pass").is_disabled(), (
        "the Pass button is disabled on an empty form: Airflow's form treats the fields as "
        "required (a Param of type 'string' is required; optional needs ['string', 'null'])"
    )


# --- the helper itself, on a probe DAG ---------------------------------------------------------


def test_browser_helper_on_the_probe_dag(airflow_server, browser_as):
    """Login page, Required Action tab, multi-line text areas, option buttons: the helper works."""
    client = airflow_server
    run_id = f"browser_probe_{uuid.uuid4().hex[:8]}"
    client.trigger(PROBE, run_id=run_id)
    client.wait_for_hitl(PROBE, run_id, "review", timeout=120)

    page = browser_as("officer_a")
    open_required_action(page, PROBE, run_id, "review")
    assert "Browser probe for " + run_id in page.inner_text("body")
    assert _form_titles(page) == [GUIDANCE, "Changes to probe.csv"]
    for title in _form_titles(page):  # format: multiline -> a text area
        assert field(page, title).evaluate("e => e.tagName") == "TEXTAREA", title
    # Airflow's form: a plain "string" Param is required (buttons disabled while it is empty);
    # ["string", "null"] is optional.
    assert page.get_by_test_id("hitl-option-Pass").is_disabled()
    fill_field(page, "Changes to probe.csv", "Round row 2.\nDrop column x.")
    assert not page.get_by_test_id("hitl-option-Pass").is_disabled()
    screenshot(page, "probe-1-filled")
    _answer(page, client, run_id, "review", "Request revisions", dag_id=PROBE)
    assert "from officer_a" in page.inner_text("body")
    screenshot(page, "probe-2-answered")

    client.wait_for_run(PROBE, run_id, timeout=120)
    assert client.xcom(PROBE, run_id, "report") == {
        "chosen": ["Request revisions"],
        "params": {"guidance": None, "file_1": "Round row 2.\nDrop column x."},
    }
    [detail] = client.hitl_details(PROBE, run_id, pending=False)
    assert detail["responded_by_user"]["id"] == "officer_a"


# --- the SRS sign-offs -------------------------------------------------------------------------


def test_two_officers_pass_and_the_output_is_released(
    airflow_server, srs, smtp_sink_session, browser_as, requests_
):
    client, ticket = airflow_server, requests_["pass"]
    first, second = _officers(client, srs, ticket)
    assert first != second
    for n, officer in ((1, first), (2, second)):
        page = browser_as(officer)
        open_required_action(page, DAG, ticket.run_id, f"officer_{n}")
        text = page.inner_text("body")
        assert ticket.stats_id in text and "Automated checks: PASS" in text, text[-3000:]
        _assert_officer_form(page, ticket, srs)
        screenshot(page, f"pass-{n}-form-{officer}")
        _answer(page, client, ticket.run_id, f"officer_{n}", "Pass")
        assert f"from {officer}" in page.inner_text("body")
        screenshot(page, f"pass-{n}-answered-{officer}")

    client.wait_for_run(DAG, ticket.run_id, timeout=RUN_TIMEOUT)
    t = srs.store.get(ticket.stats_id)
    assert t.state == S.ARCHIVED
    decisions = srs.store.decisions(ticket.stats_id)
    assert {(d.step, d.actor, d.outcome) for d in decisions} == {
        ("officer_1", first, "Pass"),
        ("officer_2", second, "Pass"),
    }
    [released] = _researcher_mails(smtp_sink_session, srs, ticket, "Output cleared")
    attached = sorted(a.get_filename() for a in released.iter_attachments())
    assert attached == [TABLE, CODE]


def test_revisions_with_guidance_per_file_reach_the_researcher(
    airflow_server, srs, smtp_sink_session, browser_as, requests_
):
    client, ticket = airflow_server, requests_["revisions"]
    first, second = _officers(client, srs, ticket)

    page = browser_as(first)
    open_required_action(page, DAG, ticket.run_id, "officer_1")
    _assert_officer_form(page, ticket, srs)
    general = "Thank you. Two changes are needed before release;\nsee each file below."
    on_table = "Round the mean energy use to the nearest 10 kWh.\nSuppress the Private rented rows."
    on_code = "Remove the path to the Working folder on line 4."
    fill_field(page, GUIDANCE, general)
    fill_field(page, f"Changes to {TABLE}", on_table)
    fill_field(page, f"Changes to {CODE}", on_code)
    screenshot(page, "revisions-1-typed")
    _answer(page, client, ticket.run_id, "officer_1", "Request revisions")
    screenshot(page, "revisions-1-answered")

    page = browser_as(second)
    open_required_action(page, DAG, ticket.run_id, "officer_2")
    text = page.inner_text("body")
    # Independent review: the second officer's page shows nothing of the first's answer.
    for secret in ("nearest 10 kWh", "line 4", "Two changes are needed"):
        assert secret not in text, secret
    _answer(page, client, ticket.run_id, "officer_2", "Pass")

    client.wait_for_run(DAG, ticket.run_id, timeout=RUN_TIMEOUT)
    assert client.task_states(DAG, ticket.run_id)["release"] == "skipped"
    assert srs.store.get(ticket.stats_id).state == S.REVISIONS_REQUESTED
    decisions = {d.step: d for d in srs.store.decisions(ticket.stats_id)}
    assert (decisions["officer_1"].actor, decisions["officer_1"].outcome) == (
        first,
        "Request revisions",
    )
    assert decisions["officer_1"].guidance == general
    assert dict(decisions["officer_1"].files) == {TABLE: on_table, CODE: on_code}
    assert (decisions["officer_2"].actor, decisions["officer_2"].outcome) == (second, "Pass")

    [mail] = _researcher_mails(smtp_sink_session, srs, ticket, "Revisions needed")
    body = mail.get_content().replace("\r\n", "\n")  # the sink keeps SMTP's line ends
    assert "Two changes are needed before release" in body, body
    assert ">From" not in body, body
    # Each file's comment under the file's path, in the order the officer typed them.
    table_at, code_at = body.index(f"  {TABLE}\n"), body.index(f"  {CODE}\n")
    table_part = body[table_at:code_at] if table_at < code_at else body[table_at:]
    code_part = body[code_at:table_at] if code_at < table_at else body[code_at:]
    assert "nearest 10 kWh" in table_part and "Suppress the Private rented rows" in table_part, body
    assert "line 4" in code_part and "nearest 10 kWh" not in code_part, body


def test_an_officer_passes_a_blocked_request_with_an_exemption(
    airflow_server, srs, smtp_sink_session, browser_as, requests_
):
    client, ticket = airflow_server, requests_["exemption"]
    first, second = _officers(client, srs, ticket)
    checks = srs.store.get(ticket.stats_id).round_of(1).checks
    assert checks.counts["blocking"] >= 1, checks.counts

    page = browser_as(first)
    open_required_action(page, DAG, ticket.run_id, "officer_1")
    text = page.inner_text("body")
    # The blocking finding is in the body with its location, so the exemption can name it.
    assert "Automated checks: FAIL" in text and "Blocking findings" in text, text[-3000:]
    assert TABLE in text.split("Blocking findings", 1)[1], text[-3000:]
    _assert_officer_form(page, ticket, srs)
    screenshot(page, "exemption-1-form")

    exemption = (
        "The cell of 3 households (row 2, column n) is exempt: it is a published figure "
        "(ONS table HH01, 2023), so releasing it discloses nothing new."
    )
    fill_field(page, EXEMPTION, exemption)
    screenshot(page, "exemption-2-typed")
    _answer(page, client, ticket.run_id, "officer_1", "Pass")

    page = browser_as(second)
    open_required_action(page, DAG, ticket.run_id, "officer_2")
    assert "published figure" not in page.inner_text("body")
    fill_field(page, EXEMPTION, "Agreed: the count is already public (HH01).")
    _answer(page, client, ticket.run_id, "officer_2", "Pass")

    client.wait_for_run(DAG, ticket.run_id, timeout=RUN_TIMEOUT)
    assert srs.store.get(ticket.stats_id).state == S.ARCHIVED
    decisions = {d.step: d for d in srs.store.decisions(ticket.stats_id)}
    assert (decisions["officer_1"].actor, decisions["officer_1"].outcome) == (first, "Pass")
    assert decisions["officer_1"].exemption == exemption
    assert decisions["officer_2"].exemption == "Agreed: the count is already public (HH01)."
    assert not [e for e in srs.store.audit(ticket.stats_id) if e.action == "signoff_answer_refused"]
    [released] = _researcher_mails(smtp_sink_session, srs, ticket, "Output cleared")
    attached = {a.get_filename(): a.get_payload(decode=True) for a in released.iter_attachments()}
    assert b",3," in attached[TABLE]


def test_a_refused_answer_shows_its_reason_on_the_page(
    airflow_server, srs, smtp_sink_session, browser_as, requests_
):
    client, ticket = airflow_server, requests_["refused"]
    first, second = _officers(client, srs, ticket)

    page = browser_as(first)
    open_required_action(page, DAG, ticket.run_id, "officer_1")
    # "Request revisions" with no guidance at all: nothing for the researcher to act on.
    _answer(page, client, ticket.run_id, "officer_1", "Request revisions")
    screenshot(page, "refused-1-answered-empty")
    deadline = time.monotonic() + 90
    while not [e for e in srs.store.audit(ticket.stats_id) if e.action == "signoff_answer_refused"]:
        assert time.monotonic() < deadline, "the empty 'Request revisions' was not refused"
        time.sleep(1)
    client.wait_for_task(DAG, ticket.run_id, "officer_1", {"awaiting_input"}, timeout=60)

    text = wait_for_text(page, REFUSED)
    reason = text.split(REFUSED, 1)[1][:400]
    assert "needs guidance for the researcher" in reason, reason
    # Asked again: the buttons are live again, no stale "Response received".
    assert not page.get_by_test_id("hitl-option-Request revisions").is_disabled()
    screenshot(page, "refused-2-reason-shown")
    [refusal] = [
        e for e in srs.store.audit(ticket.stats_id) if e.action == "signoff_answer_refused"
    ]
    assert refusal.actor == first and "needs guidance" in refusal.details["reason"]
    assert not [d for d in srs.store.decisions(ticket.stats_id) if d.step == "officer_1"]

    # Answered properly, the same officer's guidance is now accepted.
    fill_field(page, GUIDANCE, "Please state which year the counts cover.")
    _answer(page, client, ticket.run_id, "officer_1", "Query researcher")
    page = browser_as(second)
    open_required_action(page, DAG, ticket.run_id, "officer_2")
    _answer(page, client, ticket.run_id, "officer_2", "Pass")
    client.wait_for_run(DAG, ticket.run_id, timeout=RUN_TIMEOUT)
    assert srs.store.get(ticket.stats_id).state == S.REVISIONS_REQUESTED
    decisions = {d.step: d for d in srs.store.decisions(ticket.stats_id)}
    assert (decisions["officer_1"].outcome, decisions["officer_1"].guidance) == (
        "Query researcher",
        "Please state which year the counts cover.",
    )
    [mail] = _researcher_mails(smtp_sink_session, srs, ticket, "Revisions needed")
    assert "which year the counts cover" in mail.get_content()


def test_a_data_owner_approves(airflow_server, srs, smtp_sink_session, browser_as, requests_):
    client, ticket = airflow_server, requests_["data_owner"]
    first, second = _officers(client, srs, ticket)
    for n, officer in ((1, first), (2, second)):
        page = browser_as(officer)
        open_required_action(page, DAG, ticket.run_id, f"officer_{n}")
        _answer(page, client, ticket.run_id, f"officer_{n}", "Pass")

    # Project 4567890 uses ASHE, whose data owner must approve: one mapped sign-off (index 0).
    client.wait_for_task(
        DAG, ticket.run_id, "data_owner_signoff[0]", {"awaiting_input"}, timeout=RUN_TIMEOUT
    )
    assert srs.store.get(ticket.stats_id).state == S.AWAITING_DATA_OWNER
    page = browser_as("do_ashe")
    open_required_action(page, DAG, ticket.run_id, "data_owner_signoff", map_index=0)
    text = page.inner_text("body")
    assert ticket.stats_id in text and "ASHE" in text, text[-3000:]
    for option in ("Approve", "Request revisions"):
        assert page.get_by_test_id(f"hitl-option-{option}").is_visible(), option
    assert _form_titles(page) == [GUIDANCE]
    assert field(page, GUIDANCE).evaluate("e => e.tagName") == "TEXTAREA"
    screenshot(page, "data-owner-1-form")
    _answer(page, client, ticket.run_id, "data_owner_signoff", "Approve", map_index=0)
    assert "from do_ashe" in page.inner_text("body")
    screenshot(page, "data-owner-2-approved")

    client.wait_for_run(DAG, ticket.run_id, timeout=RUN_TIMEOUT)
    assert srs.store.get(ticket.stats_id).state == S.ARCHIVED
    owners = [d for d in srs.store.decisions(ticket.stats_id) if d.role == "data_owner"]
    assert [(d.step, d.actor, d.outcome) for d in owners] == [
        ("data_owner_ASHE", "do_ashe", "Approve")
    ]
    [released] = _researcher_mails(smtp_sink_session, srs, ticket, "Output cleared")
    assert sorted(a.get_filename() for a in released.iter_attachments()) == [TABLE, CODE]
