"""The operator view (plugins/srs_ui): FastAPI's TestClient against the app, mounted at /srs.

Content tests override Airflow's ``get_user`` dependency; one test keeps it, and proves a
request without a token gets 401. Tickets are seeded through the real pipeline (temp SQLite and
local storage, the demo registry) and, for the check report, with a stored ``.check.json``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from include import request_rounds
from include import request_steps as out
from include.checks.findings import Finding, Location, Severity
from include.checks.report import CheckReport, FileResult, render_html
from include.demo import DEMO_FOLDER, DEMO_PROJECT, write_demo_request
from include.rounds import CheckSummary
from include.states import TicketState as S
from include.storage import Manifest, Place

srs_ui = pytest.importorskip("srs_ui.app", reason="the UI plugin needs Airflow's API server code")

DEMO = Path(__file__).resolve().parents[2] / "demo" / "registry.yaml"
EVIL = '<script>alert("x")</script>'
SHA = "ab" * 32


class FakeUser:
    """An Airflow admin the registry does not list: operations, sees every request."""

    role = "admin"
    name = "ops_person"

    def get_name(self) -> str:
        return self.name

    def get_id(self) -> str:
        return self.name


def as_user(name: str, role: str = "viewer") -> type:
    """A get_user override for a SimpleAuthManager user ``name`` with ``role``."""
    return type("User", (FakeUser,), {"role": role, "name": name})


class FakeHitl:
    """Airflow's HITL details as the plugin reads them, without an Airflow database."""

    def __init__(self) -> None:
        self.waiting: list = []
        self.answered: dict[tuple[str, str], set[str]] = {}

    def waiting_for(self, user_id: str) -> list:
        return [w for who, w in self.waiting if who == user_id]

    def answered_tasks(self, dag_id: str, run_id: str) -> set[str]:
        return self.answered.get((dag_id, run_id), set())


@pytest.fixture
def hitl() -> FakeHitl:
    return FakeHitl()


@pytest.fixture
def p(demo_pipeline):
    write_demo_request(demo_pipeline.storage)
    return demo_pipeline


def _site() -> FastAPI:
    """Airflow's API server in miniature: the plugin app mounted at its url_prefix."""
    site = FastAPI()
    site.mount(srs_ui.URL_PREFIX, srs_ui.app)
    return site


@pytest.fixture
def client(p, hitl):
    srs_ui.app.dependency_overrides[srs_ui.get_user] = FakeUser
    srs_ui.app.dependency_overrides[srs_ui.get_hitl] = lambda: hitl
    try:
        with TestClient(_site()) as c:
            yield c
    finally:
        srs_ui.app.dependency_overrides.clear()


@pytest.fixture
def checked(p):
    """The demo request, registered, snapshotted and checked: round 1, awaiting officers."""
    result = out.intake(
        p,
        started_by="ops",
        project=DEMO_PROJECT,
        folder=DEMO_FOLDER,
        requester="r_rahman",
        run_id="manual__ui_1",
    )
    out.take_snapshot(p, result.stats_id)
    out.run_checks(p, result.stats_id)
    ticket = p.store.get(result.stats_id)
    p.store.record_decision(
        ticket.stats_id,
        round=1,
        step="officer_1",
        role="officer",
        actor=ticket.assigned_officers[0],
        outcome="Pass",
    )
    return p.store.get(result.stats_id)


def _blocked(p, folder="2026_11_21_Blocked_v1", project="2345678", requester="r_jones"):
    t = p.store.create(
        kind="output", project=project, requester=requester, folder=folder, actor=requester
    )
    p.store.transition(t.stats_id, S.CHECKING, actor="pipeline")
    return p.store.transition(t.stats_id, S.REVISIONS_REQUESTED, actor="officer_alice")


def _with_report(p, *, requester="r_jones", path="table.csv", message="fine"):
    """A ticket with a snapshot manifest, a check summary and a stored report of every severity."""
    t = p.store.create(
        kind="output", project="4567890", requester=requester, folder="2026_11_22_Rep_v1", actor="x"
    )
    p.store.transition(t.stats_id, S.CHECKING, actor="pipeline")
    manifest = {
        "version": 1,
        "algorithm": "sha256",
        "total_bytes": 10,
        "files": [{"path": path, "sha256": SHA, "size": 10}],
    }
    report = CheckReport(
        files=[
            FileResult(
                path,
                "output",
                "csv",
                10,
                SHA,
                [
                    Finding(
                        "spreadsheet_hidden", Severity.INFO, "an info note", Location(file=path)
                    ),
                    Finding(
                        "low_count",
                        Severity.BLOCK,
                        message,
                        Location(file=path, row=3, column="n"),
                        kind="threshold",
                    ),
                    Finding("review_me", Severity.REVIEW, "please look", Location(file=path)),
                ],
            )
        ]
    )
    where = Place("4567890", "Output", t.stats_id)
    p.store.record_snapshot(t.stats_id, 1, "x", Manifest.from_dict(manifest))
    summary = CheckSummary("fail", {}, files=({"path": path, "role": "output", "type": "csv"},))
    p.store.record_checks(t.stats_id, 1, summary, where.key)
    p.storage.write_bytes(where, f"{t.folder}.check.json", json.dumps(report.to_dict()).encode())
    p.storage.write_bytes(where, f"{t.folder}.check.html", render_html(report, title="R").encode())
    return p.store.get(t.stats_id)


def _section(html: str, heading: str) -> str:
    """The HTML from the <h2> starting with ``heading`` to the next <h2>."""
    start = html.index(f"<h2>{heading}")
    end = html.find("<h2>", start + 4)
    return html[start : end if end != -1 else None]


# --- auth --------------------------------------------------------------------------------------


def test_every_page_needs_a_logged_in_airflow_user(p):
    """No override: Airflow's own get_user finds no bearer token and no _token cookie."""
    assert srs_ui.get_user not in srs_ui.app.dependency_overrides
    with TestClient(_site()) as c:
        for path in (
            "/srs/requests",
            "/srs/requests/STATS00001",
            "/srs/requests/STATS00001/report",
        ):
            response = c.get(path)
            assert response.status_code == 401, path
            assert response.json() == {"detail": "Not authenticated"}
        page = c.get("/srs/requests", headers={"Accept": "text/html"})
        assert (
            page.status_code == 401
            and "Not signed in" in page.text
            and "sign in to Airflow" in page.text
        )
        assert "STATS" not in page.text


def test_the_plugin_mounts_the_app_at_srs_and_adds_a_nav_entry():
    import srs_ui_plugin

    plugin = srs_ui_plugin.SrsUiPlugin
    assert plugin.fastapi_apps == [
        {"app": srs_ui.app, "url_prefix": "/srs", "name": "SRS requests"}
    ]
    nav = [v for v in plugin.external_views if v["destination"] == "nav"]
    assert nav == [
        {
            "name": "Requests",
            "href": "/srs/requests",
            "destination": "nav",
            "url_route": "srs-requests",
        },
        {
            "name": "Sign-offs",
            "href": "/srs/signoffs",
            "destination": "nav",
            "url_route": "srs-signoffs",
        },
    ]


# --- the queue ---------------------------------------------------------------------------------


def test_queue_in_order_of_receipt_with_blocked_apart_counts_and_oldest(client, p, checked):
    blocked = _blocked(p)
    later = p.store.create(
        kind="ingest", project="4567890", requester="r_jones", folder="in_v1", actor="r_jones"
    )
    earliest = p.store.create(
        kind="transfer",
        project="2345678",
        destination_project="3456789",
        requester="r_jones",
        folder="tr_v1",
        actor="r_jones",
        received_at=datetime.now(UTC) - timedelta(days=6, hours=2),
    )
    response = client.get("/srs/requests")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'self'" in response.headers["content-security-policy"]
    html = response.text
    queue = _section(html, "Open, in order of receipt")
    order = re.findall(r'href="/srs/requests/(STATS\d{5})"', queue)
    assert order == [earliest.stats_id, checked.stats_id, later.stats_id]
    assert f'href="/srs/requests/{checked.stats_id}"' in queue
    assert "awaiting officers" in queue and "2345678 → 3456789" in queue
    for officer in checked.assigned_officers:
        assert officer in queue
    assert "6d 2h" in queue  # age in the queue
    assert blocked.stats_id not in queue
    assert blocked.stats_id in _section(html, "Blocked")
    oldest = re.search(r"Oldest waiting: (.*?)</div>", html, re.S).group(1)
    assert earliest.stats_id in oldest and "6d 2h" in oldest
    cards = dict(re.findall(r'<div class="k">([a-z ]+)</div><div class="v">(\d+)</div>', html))
    assert cards["all tickets"] == "4"
    assert cards["awaiting officers"] == "1" and cards["revisions requested"] == "1"
    assert cards["received"] == "2" and cards["released"] == "0"
    assert "Signed in as ops_person" in html


def test_queue_filters_by_state_project_and_kind(client, p, checked):
    blocked = _blocked(p)
    html = client.get("/srs/requests", params={"state": "revisions_requested"}).text
    assert blocked.stats_id in html and checked.stats_id not in _section(html, "Open")
    html = client.get("/srs/requests", params={"project": DEMO_PROJECT}).text
    assert checked.stats_id in _section(html, "Open") and blocked.stats_id not in _section(
        html, "Blocked"
    )
    html = client.get("/srs/requests", params={"kind": "ingest"}).text
    assert checked.stats_id not in _section(html, "Open") and "No open requests match" in html
    assert "clear filters" in html
    both = client.get(
        "/srs/requests", params=[("state", "awaiting_officers"), ("state", "revisions_requested")]
    ).text
    assert checked.stats_id in _section(both, "Open") and blocked.stats_id in _section(
        both, "Blocked"
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"state": "nonsense"}, "unknown state"),
        ({"project": "../etc"}, "is not a project number"),
        ({"kind": "export"}, "unknown kind"),
    ],
)
def test_queue_refuses_bad_filters_with_a_message(client, params, message):
    response = client.get("/srs/requests", params=params, headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert message in response.text and "Traceback" not in response.text


def test_root_redirects_to_the_queue(client):
    response = client.get("/srs/", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/srs/requests"


# --- one request -------------------------------------------------------------------------------


def test_request_page_files_report_decisions_audit_and_airflow_links(client, p, checked):
    response = client.get(f"/srs/requests/{checked.stats_id}")
    assert response.status_code == 200
    html = response.text
    files = _section(html, "Files")
    manifest = out.snapshot_manifest(checked)
    assert len(manifest) == 4
    for entry in manifest:
        assert entry.path in files and entry.sha256 in files
    assert re.search(r"energy_by_tenure_region\.csv.*?<td>output</td>", files, re.S)
    assert re.search(r"notes_for_officers_SUPPORTING\.txt.*?<td>supporting</td>", files, re.S)
    report = _section(html, "Check report")
    assert "PASS" in report and f"/srs/requests/{checked.stats_id}/report?round=1" in report
    decisions = _section(html, "Decisions")
    # Blinded review: one of two officers has answered, so neither outcome is shown.
    assert "officers 1 of 2 answered" in decisions and "Pass" not in decisions
    audit = _section(html, "Audit trail")
    assert "Pass" not in audit and "hidden until every officer" in audit
    for action in (
        "created",
        "officers assigned",
        "run recorded",
        "snapshot recorded",
        "checks recorded",
        "decision",
    ):
        assert action in audit
    assert "received → checking" in audit and "checking → awaiting officers" in audit
    links = _section(html, "In Airflow")
    run_id = checked.current_round.run_id
    assert run_id == "manual__ui_1"
    assert f'href="/dags/output_request/runs/{run_id}"' in links
    assert f'href="/dags/output_request/runs/{run_id}/required_actions"' in links
    assert 'href="/required_actions?response_received=false"' in links
    assert f'href="/plugin/srs-requests/srs/requests/{checked.stats_id}"' in html


def test_check_report_shows_every_finding_blocking_first(client, p):
    t = _with_report(p)
    html = client.get(f"/srs/requests/{t.stats_id}").text
    report = _section(html, "Check report")
    assert "FAIL" in report and "<strong>1</strong> blocking" in report
    severities = re.findall(r'<td class="sev">(\w+)</td>', report)
    assert severities == ["block", "review", "info"]
    assert "low_count" in report and "threshold" in report
    assert "table.csv, row 3, column &#39;n&#39;" in report
    files = _section(html, "Files")
    assert SHA in files and "<td>output</td>" in files and "<td>csv</td>" in files
    assert 'href="/dags/output_request/runs/' + t.stats_id + '-r1"' in html  # no run_r1: by rule


def test_ingest_report_is_read_from_its_quarantine(client, p):
    from include.request_kinds import reports_place

    t = p.store.create(
        kind="ingest", project="4567890", requester="r_jones", folder="in_v1", actor="r_jones"
    )
    report = CheckReport(
        files=[FileResult("data.csv", "input", "csv", 5, SHA, [])],
        findings=[Finding("minimisation", Severity.REVIEW, "more columns than the form lists")],
    )
    place = reports_place(t, 1)
    assert place.area != "Output"
    p.storage.write_bytes(place, "in_v1.check.json", json.dumps(report.to_dict()).encode())
    html = client.get(f"/srs/requests/{t.stats_id}").text
    assert "more columns than the form lists" in _section(html, "Check report")
    assert 'href="/dags/ingest_request/runs/' + t.stats_id + '-r1"' in html


def test_stored_html_report_is_served(client, p):
    t = _with_report(p)
    response = client.get(f"/srs/requests/{t.stats_id}/report")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "low_count" in response.text
    assert "script-src 'none'" in response.headers["content-security-policy"]
    missing = client.get(f"/srs/requests/{_blocked(p).stats_id}/report")
    assert missing.status_code == 404 and "no stored check report" in missing.json()["detail"]
    assert client.get(f"/srs/requests/{t.stats_id}/report", params={"round": 2}).status_code == 404


def test_researcher_text_is_escaped(client, p):
    # The store refuses '<' in a file path (reserved on Windows); an entity in one still shows
    # as typed, not as the character it names.
    t = _with_report(p, requester=EVIL, path="R&amp;D.csv", message=f"bad {EVIL} cell")
    html = client.get(f"/srs/requests/{t.stats_id}").text
    assert EVIL not in html and "R&amp;D.csv" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "R&amp;amp;D.csv" in html
    assert EVIL not in client.get("/srs/requests").text


def test_unknown_and_malformed_stats_ids_are_404_with_a_message(client):
    response = client.get("/srs/requests/STATS99999")
    assert response.status_code == 404 and response.json() == {
        "detail": "there is no request STATS99999"
    }
    page = client.get("/srs/requests/STATS99999", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "there is no request STATS99999" in page.text
    for bad in ("nonsense", "STATS1", "STATS00001x", "%3Cscript%3E", "STATS00001%00"):
        response = client.get(f"/srs/requests/{bad}", headers={"Accept": "text/html"})
        assert response.status_code == 404, bad
        assert "is not a STATS-ID" in response.text and "Traceback" not in response.text
        assert "<script>" not in response.text.split("<script nonce")[0]
    assert client.get("/srs/requests/STATS00001/../../etc/passwd").status_code == 404


def test_round_parameter_is_checked(client, checked):
    assert client.get(f"/srs/requests/{checked.stats_id}", params={"round": 1}).status_code == 200
    response = client.get(f"/srs/requests/{checked.stats_id}", params={"round": 3})
    assert response.status_code == 404 and "has no round 3" in response.json()["detail"]
    assert client.get(f"/srs/requests/{checked.stats_id}", params={"round": "x"}).status_code == 400


def test_airflow_run_leads_to_its_request(client, p, checked):
    t = _with_report(p)
    response = client.get(f"/srs/runs/output_request/{t.stats_id}-r1", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == f"/srs/requests/{t.stats_id}?round=1"
    by_record = client.get("/srs/runs/output_request/manual__ui_1", follow_redirects=False)
    assert by_record.headers["location"] == f"/srs/requests/{checked.stats_id}?round=1"
    assert client.get("/srs/runs/other_dag/manual__x").status_code == 404


# --- need-to-know and blinded review -------------------------------------------------------------


def _transfer(p, source="2345678", destination="4567890"):
    return p.store.create(
        kind="transfer",
        project=source,
        destination_project=destination,
        requester="r_okafor",
        folder="tr_v1",
        actor="r_okafor",
    )


@pytest.fixture
def login(client):
    def as_(name: str, role: str = "viewer"):
        srs_ui.app.dependency_overrides[srs_ui.get_user] = as_user(name, role)
        return client

    return as_


def test_a_data_owner_sees_only_requests_touching_their_datasets(login, p, checked):
    ashe = _with_report(p)  # project 4567890 uses ASHE
    into_ashe = _transfer(p)  # from 2345678 (Census2021) into 4567890 (ASHE)
    c = login("do_ashe")
    html = c.get("/srs/requests").text
    listed = set(re.findall(r'href="/srs/requests/(STATS\d{5})"', html))
    assert listed == {ashe.stats_id, into_ashe.stats_id}
    cards = dict(re.findall(r'<div class="k">([a-z ]+)</div><div class="v">(\d+)</div>', html))
    assert cards["all tickets"] == "2"  # counts of what they may see, not of the whole store
    assert c.get(f"/srs/requests/{ashe.stats_id}").status_code == 200
    assert c.get(f"/srs/requests/{ashe.stats_id}/report").status_code == 200
    assert c.get(f"/srs/api/requests/{into_ashe.stats_id}").status_code == 200
    # STATS00001-like demo request: project 1234567 uses LFS and Census2021, not ASHE.
    for path in (
        f"/srs/requests/{checked.stats_id}",
        f"/srs/requests/{checked.stats_id}/report",
        f"/srs/api/requests/{checked.stats_id}",
        "/srs/runs/output_request/manual__ui_1",
    ):
        response = c.get(path, follow_redirects=False)
        assert response.status_code == 403, path
        assert "none of the datasets" in response.json()["detail"]
    listed_json = {t["stats_id"] for t in c.get("/srs/api/requests").json()["requests"]}
    assert listed_json == {ashe.stats_id, into_ashe.stats_id}


def test_officers_and_operations_see_every_request(login, p, checked):
    ashe = _with_report(p)
    for name, role in (("officer_carol", "viewer"), ("ops", "admin"), ("ops", "viewer")):
        c = login(name, role)
        assert c.get(f"/srs/requests/{checked.stats_id}").status_code == 200, name
        assert c.get(f"/srs/requests/{ashe.stats_id}").status_code == 200, name
        listed = {t["stats_id"] for t in c.get("/srs/api/requests").json()["requests"]}
        assert {checked.stats_id, ashe.stats_id} <= listed


@pytest.mark.parametrize("name", ["r_jones", "someone_unknown"])
def test_anyone_else_gets_403_everywhere(login, checked, name):
    c = login(name)
    for path in (
        "/srs/requests",
        f"/srs/requests/{checked.stats_id}",
        f"/srs/requests/{checked.stats_id}/report",
        "/srs/api/requests",
        f"/srs/api/requests/{checked.stats_id}",
        "/srs/signoffs",
    ):
        response = c.get(path)
        assert response.status_code == 403, path
        assert checked.stats_id not in response.text
    page = c.get("/srs/requests", headers={"Accept": "text/html"})
    assert page.status_code == 403 and "Not allowed" in page.text


def test_json_hides_an_officers_answer_until_both_have_answered(client, p, checked):
    body = client.get(f"/srs/api/requests/{checked.stats_id}").json()
    assert body["decisions"] == []
    assert body["rounds"] == [
        {
            "round": 1,
            "officers_answered": 1,
            "officers_needed": 2,
            "blinded": True,
            "progress": "1 of 2 answered",
        }
    ]
    p.store.record_decision(
        checked.stats_id,
        round=1,
        step="officer_2",
        role="officer",
        actor=checked.assigned_officers[1],
        outcome="Request revisions",
        guidance="Round the means.",
    )
    body = client.get(f"/srs/api/requests/{checked.stats_id}").json()
    assert [d["outcome"] for d in body["decisions"]] == ["Pass", "Request revisions"]
    assert body["rounds"][0]["blinded"] is False
    html = client.get(f"/srs/requests/{checked.stats_id}").text
    assert "Round the means." in _section(html, "Decisions")
    assert "Round the means." in _section(html, "Audit trail")


def test_answers_airflow_has_count_before_the_store_records_them(client, p, hitl):
    t = _with_report(p)
    hitl.answered[("output_request", f"{t.stats_id}-r1")] = {"officer_2"}
    html = client.get(f"/srs/requests/{t.stats_id}").text
    assert "officers 1 of 2 answered" in html
    body = client.get(f"/srs/api/requests/{t.stats_id}").json()
    assert body["rounds"][0]["progress"] == "1 of 2 answered"


def test_my_signoffs_lists_tasks_waiting_for_me_with_links(login, hitl):
    from srs_ui.airflow_hitl import WaitingSignoff

    mine = WaitingSignoff(
        "output_request", "STATS00007-r2", "officer_1", -1, "STATS00007: sign-off", None
    )
    owner = WaitingSignoff(
        "output_request", "STATS00008-r1", "data_owner_signoff", 0, "STATS00008: ASHE", None
    )
    hitl.waiting = [("officer_alice", mine), ("do_ashe", owner)]
    html = login("officer_alice").get("/srs/signoffs").text
    assert "STATS00007" in html and "STATS00008" not in html
    assert (
        'href="/dags/output_request/runs/STATS00007-r2/tasks/officer_1/required_actions'
        '?map_index=-1"' in html
    )
    assert 'href="/srs/signoffs">My sign-offs</a>' in html  # in the nav
    html = login("do_ashe").get("/srs/signoffs").text
    assert "tasks/data_owner_signoff/required_actions?map_index=0" in html
    assert "Nothing is waiting for you." in login("officer_bob").get("/srs/signoffs").text


def test_round_two_says_which_files_changed_in_the_body_and_on_the_page(client, p):
    """Officers of a resubmission see what the researcher changed (snapshot hashes compared)."""
    from include.demo import demo_form_bytes
    from include.signoff_record import Response

    r1 = out.intake(
        p,
        started_by="ops",
        project=DEMO_PROJECT,
        folder=DEMO_FOLDER,
        requester="r_rahman",
        run_id="manual__r1",
    )
    out.take_snapshot(p, r1.stats_id)
    out.run_checks(p, r1.stats_id)
    first, second = p.store.get(r1.stats_id).assigned_officers
    revise = [
        Response("officer_1", first, "Request revisions", guidance="Round the means."),
        Response("officer_2", second, "Pass"),
    ]
    assert out.officers_decision(p, r1.stats_id, revise) == "revisions"
    out.request_revisions(p, r1.stats_id)
    v2 = out.next_version(DEMO_FOLDER)
    src, dst = (
        Place(DEMO_PROJECT, "Ready for Checking", DEMO_FOLDER),
        Place(DEMO_PROJECT, "Ready for Checking", v2),
    )
    p.storage.copy_folder(src, dst)
    p.storage.write_bytes(dst, "output_request_form.xlsx", demo_form_bytes(DEMO_PROJECT, v2))
    p.storage.write_bytes(
        dst, "energy_by_tenure_region.csv", b"region,tenure,n\nE12000001,Owner occupied,410\n"
    )
    out.intake(
        p,
        started_by="ops",
        project=DEMO_PROJECT,
        folder=v2,
        requester="r_rahman",
        run_id=f"{r1.stats_id}-r2",
        stats_id=r1.stats_id,
    )
    out.take_snapshot(p, r1.stats_id)
    ticket = p.store.get(r1.stats_id)
    assert request_rounds.round_changes(ticket)["changed"] == [
        "energy_by_tenure_region.csv",
        "output_request_form.xlsx",
    ]
    assert "energy_model.py" in request_rounds.round_changes(ticket)["unchanged"]
    out.run_checks(p, r1.stats_id)
    body = out.officer_request(p, r1.stats_id, 0).body
    assert (
        "**Since round 1:** changed `energy_by_tenure_region.csv`, `output_request_form.xlsx`."
        in body
    )
    page = client.get(f"/srs/requests/{r1.stats_id}", params={"round": 2}).text
    assert "Since round 1: changed" in page and "energy_by_tenure_region.csv" in page
    assert "Since round" not in client.get(f"/srs/requests/{r1.stats_id}", params={"round": 1}).text


# --- many tickets: pages, counts and the cost of a page ------------------------------------------


def _many(p, n: int, start: int = 0) -> list:
    """``n`` tickets over four projects, transfers between them, some blocked, some finished."""
    projects = ("4567890", "1234567", "2345678", "3456789")
    made = []
    for i in range(start, start + n):
        project = projects[i % len(projects)]
        extra = {}
        if i % 9 == 5:  # from a project without ASHE into 4567890 (ASHE): its owner sees it
            project, extra = "2345678", {"destination_project": "4567890"}
        t = p.store.create(
            kind="transfer" if extra else "output",
            project=project,
            requester="r_jones",
            folder=f"2026_11_30_Many{i:04d}_v1",
            actor="r_jones",
            received_at=datetime.now(UTC) - timedelta(hours=500 - i),
            **extra,
        )
        if i % 6 == 1:
            p.store.transition(t.stats_id, S.CHECKING, actor="pipeline")
            t = p.store.transition(t.stats_id, S.REVISIONS_REQUESTED, actor="officer_alice")
        elif i % 6 == 3:
            t = p.store.transition(t.stats_id, S.REJECTED, actor="pipeline")
        made.append(t)
    return made


def _walk(c, first: str, section: str) -> list[list[str]]:
    """The STATS-IDs of ``section`` on each page, following its next links from ``first``."""
    pages, url = [], first
    while url:
        html = c.get(url).text
        part = _section(html, section)
        pages.append(re.findall(r'href="/srs/requests/(STATS\d{5})"', part))
        found = re.search(r'rel="next" href="([^"]+)"', part)
        url = found.group(1).replace("&amp;", "&") if found else None
        assert len(pages) < 20, "the next links never end"
    return pages


def test_a_data_owner_pages_through_more_than_a_page_and_nothing_leaks(login, p):
    tickets = _many(p, 230)
    ashe = [t for t in tickets if "4567890" in (t.project, t.destination_project)]
    others = {t.stats_id for t in tickets} - {t.stats_id for t in ashe}
    waiting = [t.stats_id for t in ashe if t.is_open and t.state != S.REVISIONS_REQUESTED]
    assert len(waiting) > srs_ui.PAGE_SIZE and others  # more than a page of their own, and more
    c = login("do_ashe")

    pages = _walk(c, "/srs/requests", "Open, in order of receipt")
    assert len(pages) == 2 and len(pages[0]) == srs_ui.PAGE_SIZE
    assert [s for page in pages for s in page] == waiting  # queue order, each once, all of them
    first = c.get("/srs/requests").text
    cards = dict(re.findall(r'<div class="k">([a-z ]+)</div><div class="v">(\d+)</div>', first))
    assert cards["all tickets"] == str(len(ashe))  # counted from what they may see
    assert cards["rejected"] == str(sum(t.state == S.REJECTED for t in ashe))
    assert f'Open, in order of receipt <span class="n">({len(waiting)})' in first
    assert f"page 1 of 2 (1–{srs_ui.PAGE_SIZE} of {len(waiting)})" in first
    second = c.get("/srs/requests", params={"page": 2}).text
    assert 'rel="prev" href="/srs/requests"' in second
    for html in (first, second, c.get("/srs/requests", params={"finished_page": 2}).text):
        assert not others & set(re.findall(r"STATS\d{5}", html))

    listed, url = [], "/srs/api/requests?limit=40"
    while url:
        body = c.get(url).json()
        assert body["total"] == len(ashe)
        listed += [t["stats_id"] for t in body["requests"]]
        url = body["next"]
    assert listed == [t.stats_id for t in sorted(ashe, key=lambda t: t.queued_at)]
    filtered = c.get("/srs/api/requests", params={"project": "1234567"}).json()
    assert filtered["total"] == 0 and filtered["requests"] == []  # no other project's count


def test_an_officer_sees_every_page_of_the_queue(login, p):
    tickets = _many(p, 130)
    waiting = [t.stats_id for t in tickets if t.is_open and t.state != S.REVISIONS_REQUESTED]
    c = login("officer_carol")
    assert [s for page in _walk(c, "/srs/requests", "Open") for s in page] == waiting
    blocked = [s for page in _walk(c, "/srs/requests", "Blocked") for s in page]
    assert blocked == [t.stats_id for t in tickets if t.state == S.REVISIONS_REQUESTED]
    finished = [s for page in _walk(c, "/srs/requests", "Finished") for s in page]
    assert sorted(finished) == sorted(t.stats_id for t in tickets if t.state == S.REJECTED)
    assert c.get("/srs/requests", params={"page": 0}).status_code == 400
    assert c.get("/srs/api/requests", params={"limit": 501}).status_code == 400


def _statements(p) -> list[str]:
    from sqlalchemy import event

    from include.db import get_engine

    seen: list[str] = []
    event.listen(
        get_engine(p.settings.database_url),
        "before_cursor_execute",
        lambda _c, _cur, statement, *_a: seen.append(statement),
    )
    return seen


def test_queue_and_request_pages_cost_the_same_queries_for_40_or_400_tickets(client, p, checked):
    _many(p, 40)
    seen = _statements(p)

    def cost(path: str) -> int:
        seen.clear()
        assert client.get(path).status_code == 200
        return len(seen)

    pages = ("/srs/requests", f"/srs/requests/{checked.stats_id}", "/srs/api/requests")
    few = {path: cost(path) for path in pages}
    _many(p, 360, start=40)
    assert {path: cost(path) for path in pages} == few
