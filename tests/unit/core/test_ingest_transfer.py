"""Ingest and transfer requests as plain Python: the same functions the two DAGs' tasks call."""

from pathlib import Path

import pytest

from include import request_steps as out
from include.checks.ingest_form import IngestFile, IngestForm, write_ingest_form
from include.db import session_scope
from include.permissions import NotPermitted
from include.pipeline import Pipeline
from include.registry import load
from include.registry_file import read_registry_file
from include.request_kinds import TRANSFER, reports_place
from include.settings import get_settings, reset_settings
from include.states import TicketState as S
from include.storage import ARCHIVE, INGEST, Manifest, Place

DEMO = Path(__file__).resolve().parents[3] / "demo" / "registry.yaml"
FOLDER = "2026_11_20_HouseholdLookup_v1"
TABLE = b"region,year,energy_use_kwh\nE12000001,2023,3120\nE12000002,2023,3205\n"
FORM = "ingest_request_form.xlsx"


def _load(registry_edit=None):
    doc = read_registry_file(DEMO)
    if registry_edit:
        registry_edit(doc)
    with session_scope(get_settings().database_url) as s:
        load(s, doc)


@pytest.fixture
def p(demo_pipeline):
    return demo_pipeline


def form_bytes(tmp: Path, project, folder, researcher, files, destination=""):
    form = IngestForm(
        project=project,
        researcher=researcher,
        folder=folder,
        date="2026-11-20",
        purpose="Household lookup for the energy-use models in the project plan",
        destination=destination,
        files=[IngestFile(name, f"needed for {name}", variables) for name, variables in files],
    )
    return write_ingest_form(tmp / "form.xlsx", form).read_bytes()


def lay_out(p, place, files, *, listed=None, researcher="r_rahman", project=None, destination=""):
    """A request folder: ``files`` (name -> bytes) and a form listing ``listed`` (default: all)."""
    for name, data in files.items():
        p.storage.write_bytes(place, name, data)
    listed = listed if listed is not None else [(name, []) for name in files]
    tmp = Path(p.settings.data_dir)
    tmp.mkdir(parents=True, exist_ok=True)
    p.storage.write_bytes(
        place,
        FORM,
        form_bytes(tmp, project or place.project, place.folder, researcher, listed, destination),
    )


def ingest(p, project="1234567", folder=FOLDER, requester="r_rahman", run_id="manual__1", **kw):
    return out.intake(
        p,
        kind="ingest",
        started_by="ops",
        project=project,
        folder=folder,
        requester=requester,
        run_id=run_id,
        **kw,
    )


def transfer(p, requester="r_rahman", source="1234567", destination="4567890", run_id="manual__t"):
    return out.intake(
        p,
        kind="transfer",
        started_by="ops",
        project=source,
        folder=FOLDER,
        requester=requester,
        run_id=run_id,
        **TRANSFER.intake_args({"source_area": "Working", "destination": destination}),
    )


def passes(ticket):
    return [
        out.Response(f"officer_{i + 1}", user, "Pass")
        for i, user in enumerate(ticket.assigned_officers)
    ]


def through_checks(p, stats_id):
    out.take_snapshot(p, stats_id)
    return out.run_checks(p, stats_id)


def bodies(sink):
    return [(m["Subject"], m.get_content()) for m in sink.messages()]


# --- ingest ------------------------------------------------------------------------------------


def test_ingest_placed_in_input_with_manifest_and_landing_cleared(p, smtp_sink):
    landing = Place("1234567", INGEST, FOLDER)
    lay_out(p, landing, {"lookup.csv": TABLE}, listed=[("lookup.csv", ["region", "year"])])
    result = ingest(p)
    assert result.accepted
    assert ingest(p).stats_id == result.stats_id  # a retried intake: same ticket, no second email
    t = p.store.get(result.stats_id)
    assert t.kind == "ingest" and len(t.assigned_officers) == 1  # SRS_INGEST_OFFICERS default
    ack = smtp_sink.wait_for(1)[0]
    assert ack["Subject"] == f"[{t.stats_id}] Ingest request received for project 1234567"

    summary = through_checks(p, t.stats_id)
    assert summary["verdict"] == "pass", summary
    quarantine = out.snapshot_place(p.store.get(t.stats_id))
    assert quarantine.area == ARCHIVE  # outside every project area
    assert p.storage.exists(reports_place(t, 1), f"{FOLDER}.check.json")
    assert p.store.get(t.stats_id).state == S.AWAITING_OFFICERS
    req = out.officer_request(p, t.stats_id, 0)
    assert "Ingest check 1 of 1" in req.subject and "ingest into project" in req.body
    assert out.officers_decision(p, t.stats_id, passes(t)) == "place"

    placed = out.place(p, t.stats_id)
    out.place(p, t.stats_id)  # retried: nothing copied or sent twice
    t = p.store.get(t.stats_id)
    assert t.state == S.PLACED
    target = Place("1234567", "Input", t.stats_id)
    stored = {f.path for f in p.storage.list_files(target)}
    assert stored == {"manifest.json", f"{FOLDER}/lookup.csv", f"{FOLDER}/{FORM}"}
    manifest = Manifest.from_json(p.storage.read_bytes(target, "manifest.json"))
    assert manifest == out.snapshot_manifest(t)
    assert not p.storage.verify(target.child(FOLDER), manifest)
    assert placed["input"] == target.child(FOLDER).key
    assert not p.storage.exists(landing)  # cleared, after the copy was verified
    assert t.details["landing_cleared"] == [FOLDER]
    mails = smtp_sink.wait_for(2)
    assert len(mails) == 2
    assert mails[1]["Subject"] == f"[{t.stats_id}] Ingest placed in project 1234567: {FOLDER}"
    assert f"Input/{t.stats_id}/{FOLDER}/" in mails[1].get_content()

    out.archive(p, t.stats_id)
    assert p.store.get(t.stats_id).state == S.ARCHIVED
    kept = {f.path for f in p.storage.list_files(p.archive_place(t))}
    assert {f"round1/{FOLDER}/lookup.csv", "round1/manifest.json", "round1/check.json"} <= kept
    assert {"decisions.json", "ticket.json", "audit.json", "emails/placed.eml"} <= kept
    actions = [e.action for e in p.store.audit(t.stats_id)]
    assert {"placement_recorded", "landing_cleared", "decision"} <= set(actions)


def test_ingest_blocked_for_superfluous_column(p, smtp_sink):
    landing = Place("1234567", INGEST, FOLDER)
    table = b"region,year,pet_name\nE12000001,2023,Rex\n"
    lay_out(p, landing, {"lookup.csv": table})
    t = p.store.get(ingest(p).stats_id)
    summary = through_checks(p, t.stats_id)
    assert summary["verdict"] == "fail"
    found = [(f["rule"], f["where"]) for f in summary["blocking"]]
    assert ("superfluous_variable", "lookup.csv, column pet_name") in found
    assert p.store.get(t.stats_id).state == S.CHECKING  # straight back, no officer's time
    with pytest.raises(NotPermitted):
        out.place(p, t.stats_id)
    out.request_revisions(p, t.stats_id)
    out.request_revisions(p, t.stats_id)  # retried: one email
    assert p.store.get(t.stats_id).state == S.REVISIONS_REQUESTED
    mails = smtp_sink.wait_for(2)
    assert len(mails) == 2
    body = mails[1].get_content()
    assert "superfluous_variable" in body and "lookup.csv" in body and "'pet_name'" in body
    assert "in the ingest area" in body
    assert not p.storage.exists(Place("1234567", "Input", t.stats_id))  # nothing placed
    assert p.storage.exists(landing, "lookup.csv")  # and nothing cleared


def test_ingest_blocked_for_direct_identifier(p, smtp_sink):
    landing = Place("1234567", INGEST, FOLDER)
    table = b"region,year,nhs_number\nE12000001,2023,943 476 5919\n"
    lay_out(p, landing, {"people.csv": table})
    t = p.store.get(ingest(p).stats_id)
    summary = through_checks(p, t.stats_id)
    assert summary["verdict"] == "fail" and summary["direct_identifiers"] >= 1
    rules = {(f["rule"], f.get("kind")) for f in summary["blocking"]}
    assert ("direct_identifier", "nhs_number") in rules
    out.request_revisions(p, t.stats_id)
    mails = smtp_sink.wait_for(3)
    incident = [m for m in mails if "INCIDENT" in m["Subject"]]
    assert incident and "srs.operations@srs.example" in incident[0]["To"]
    revisions = next(m for m in mails if "Revisions needed" in m["Subject"])
    body = revisions.get_content()
    assert "direct_identifier" in body and "people.csv" in body and "nhs_number" in body
    assert not p.storage.exists(Place("1234567", "Input", t.stats_id))


def test_every_file_must_be_on_the_form(p):
    landing = Place("1234567", INGEST, FOLDER)
    lay_out(p, landing, {"lookup.csv": TABLE, "extra.txt": b"notes\n"}, listed=[("lookup.csv", [])])
    t = p.store.get(ingest(p).stats_id)
    summary = through_checks(p, t.stats_id)
    assert ("file_not_on_form", "extra.txt") in {
        (f["rule"], f["where"]) for f in summary["blocking"]
    }


def test_exploratory_project_may_ingest(p):
    lay_out(
        p,
        Place("2345678", INGEST, FOLDER),
        {"quals.csv": b"region,year,qualification_level\nE12000001,2023,4\n"},
        researcher="r_okafor",
    )
    result = ingest(p, project="2345678", requester="r_okafor")
    assert result.accepted, result.reasons
    assert through_checks(p, result.stats_id)["verdict"] == "pass"


@pytest.mark.parametrize(
    ("project", "requester", "rule"),
    [
        ("1234567", "r_smith", "not_a_researcher"),
        ("3456789", "r_jones", "project_not_live"),
        ("9999999", "r_rahman", "project_not_live"),
    ],
)
def test_ingest_refusals_name_the_rule(p, smtp_sink, project, requester, rule):
    if project != "9999999":
        lay_out(p, Place(project, INGEST, FOLDER), {"lookup.csv": TABLE}, researcher=requester)
    result = ingest(p, project=project, requester=requester)
    assert not result.accepted and result.reasons[0].rule == rule
    t = p.store.get(result.stats_id)
    assert t.state == S.REJECTED and t.kind == "ingest"
    assert ingest(p, project=project, requester=requester).stats_id == t.stats_id  # retried
    mails = smtp_sink.wait_for(1)
    assert len(mails) == 1 and f"[{rule}]" in mails[0].get_content()


def test_ingest_without_form_or_folder_is_refused(p):
    result = ingest(p)
    assert result.reasons[0].rule == "request_form_missing"
    assert "ingest area" in result.reasons[0].message
    p.storage.write_bytes(Place("1234567", INGEST, "2026_11_21_NoForm_v1"), "a.csv", TABLE)
    result = ingest(p, folder="2026_11_21_NoForm_v1", run_id="manual__2")
    assert result.reasons[0].rule == "request_form_missing"
    assert "ingest request form" in result.reasons[0].message


def test_ingest_revisions_then_round_two_is_placed(p, smtp_sink):
    lay_out(p, Place("1234567", INGEST, FOLDER), {"lookup.csv": b"region,pet\nE12000001,Rex\n"})
    t = p.store.get(ingest(p).stats_id)
    through_checks(p, t.stats_id)
    out.request_revisions(p, t.stats_id)
    v2 = FOLDER.replace("_v1", "_v2")
    lay_out(p, Place("1234567", INGEST, v2), {"lookup.csv": TABLE})
    r2 = ingest(p, folder=v2, run_id=f"{t.stats_id}-r2", stats_id=t.stats_id)
    assert r2.accepted and r2.round == 2
    assert through_checks(p, t.stats_id)["verdict"] == "pass"
    assert out.officers_decision(p, t.stats_id, passes(t)) == "place"
    out.place(p, t.stats_id)
    assert p.storage.exists(Place("1234567", "Input", f"{t.stats_id}/{v2}"), "lookup.csv")
    for folder in (FOLDER, v2):  # every round's landing folder is cleared
        assert not p.storage.exists(Place("1234567", INGEST, folder))
    out.archive(p, t.stats_id)
    kept = {f.path for f in p.storage.list_files(p.archive_place(p.store.get(t.stats_id)))}
    assert {f"round1/{FOLDER}/lookup.csv", f"round2/{v2}/lookup.csv"} <= kept


def test_two_officers_when_configured(p, monkeypatch):
    monkeypatch.setenv("SRS_INGEST_OFFICERS", "2")
    reset_settings()
    p = Pipeline()
    lay_out(p, Place("1234567", INGEST, FOLDER), {"lookup.csv": TABLE})
    t = p.store.get(ingest(p).stats_id)
    assert len(set(t.assigned_officers)) == 2
    through_checks(p, t.stats_id)
    with pytest.raises(NotPermitted, match="two officer sign-off"):
        out.officers_decision(p, t.stats_id, passes(t)[:1])
    with pytest.raises(NotPermitted, match="lacks two independent officer passes"):
        out.place(p, t.stats_id)
    assert out.officers_decision(p, t.stats_id, passes(t)) == "place"


def test_officer_revisions_use_the_same_loop(p, smtp_sink):
    lay_out(p, Place("1234567", INGEST, FOLDER), {"lookup.csv": TABLE})
    t = p.store.get(ingest(p).stats_id)
    through_checks(p, t.stats_id)
    answer = out.Response(
        "officer_1", t.assigned_officers[0], "Request revisions", guidance="Explain the purpose."
    )
    assert out.officers_decision(p, t.stats_id, [answer]) == "revisions"
    out.request_revisions(p, t.stats_id)
    assert "Explain the purpose." in smtp_sink.wait_for(2)[1].get_content()
    with pytest.raises(NotPermitted):
        out.place(p, t.stats_id)


# --- transfer ----------------------------------------------------------------------------------

WAGES = b"sex,age_band,hourly_pay\nF,30-39,18.20\nM,30-39,19.05\n"


def test_transfer_placed_in_destination_only_and_source_untouched(p, smtp_sink):
    source = Place("1234567", "Working", FOLDER)
    lay_out(p, source, {"wages.csv": WAGES}, project="1234567", destination="4567890")
    before = p.storage.manifest(source)
    result = transfer(p)
    assert result.accepted, result.reasons
    t = p.store.get(result.stats_id)
    assert (t.kind, t.project, t.destination_project) == ("transfer", "1234567", "4567890")
    assert t.details["source_area"] == "Working"
    assert through_checks(p, t.stats_id)["verdict"] == "pass"
    assert "transfer from project **1234567** to project **4567890**" in (
        out.officer_request(p, t.stats_id, 0).body
    )
    assert out.officers_decision(p, t.stats_id, passes(t)) == "place"
    out.place(p, t.stats_id)
    assert p.storage.exists(Place("4567890", "Input", f"{t.stats_id}/{FOLDER}"), "wages.csv")
    assert p.storage.exists(Place("4567890", "Input", t.stats_id), "manifest.json")
    assert not p.storage.exists(Place("1234567", "Input", t.stats_id))
    assert p.storage.manifest(source) == before  # the source is never modified
    mail = smtp_sink.wait_for(2)[1]
    assert mail["Subject"] == f"[{t.stats_id}] Transfer placed in project 4567890: {FOLDER}"
    assert "has not been changed" in mail.get_content()
    out.archive(p, t.stats_id)
    assert p.store.get(t.stats_id).state == S.ARCHIVED


def test_transfer_refused_when_requester_not_on_destination(p, smtp_sink):
    lay_out(p, Place("1234567", "Working", FOLDER), {"wages.csv": WAGES}, researcher="r_jones")
    result = transfer(p, requester="r_jones")
    assert not result.accepted
    assert [r.rule for r in result.reasons] == ["not_a_researcher"]
    assert "destination project 4567890" in result.reasons[0].message
    t = p.store.get(result.stats_id)
    assert t.state == S.REJECTED and t.destination_project == "4567890"
    assert "[not_a_researcher]" in smtp_sink.wait_for(1)[0].get_content()


def test_transfer_refused_when_a_project_is_not_live(p):
    lay_out(p, Place("3456789", "Working", FOLDER), {"wages.csv": WAGES}, researcher="r_jones")
    result = transfer(p, requester="r_jones", source="3456789", destination="1234567")
    assert "project_not_live" in [r.rule for r in result.reasons]


def test_transfer_minimisation_is_against_the_destination(p):
    table = b"region,sex,hourly_pay\nE12000001,F,18.20\n"  # region: approved in the source only
    lay_out(p, Place("1234567", "Working", FOLDER), {"wages.csv": table}, destination="4567890")
    t = p.store.get(transfer(p).stats_id)
    summary = through_checks(p, t.stats_id)
    assert summary["verdict"] == "fail"
    assert [f["where"] for f in summary["blocking"]] == ["wages.csv, column region"]
    assert "project 4567890" in summary["blocking"][0]["message"]


def test_transfer_form_must_name_the_destination(p):
    lay_out(p, Place("1234567", "Working", FOLDER), {"wages.csv": WAGES}, destination="2345678")
    result = transfer(p)
    assert result.reasons[0].rule == "request_form_incomplete"
    assert "destination project '2345678'" in result.reasons[0].message


def test_transfer_officers_are_on_neither_project(p, smtp_sink):
    def officer_alice_on_destination(doc):
        next(x for x in doc.projects if x.number == "4567890").researchers.append("officer_alice")

    _load(officer_alice_on_destination)
    lay_out(p, Place("1234567", "Working", FOLDER), {"wages.csv": WAGES}, destination="4567890")
    t = p.store.get(transfer(p).stats_id)
    assert t.assigned_officers and "officer_alice" not in t.assigned_officers
    through_checks(p, t.stats_id)
    with pytest.raises(NotPermitted, match="researcher on project 4567890"):
        out.officers_decision(p, t.stats_id, [out.Response("officer_1", "officer_alice", "Pass")])


# --- srs submit --------------------------------------------------------------------------------


def test_srs_submit_ingest_and_transfer_register_and_trigger(p, monkeypatch, capsys):
    from include import airflow_api, cli

    started = []

    def trigger(self, dag_id, run_id, conf, logical_date=None):
        started.append((dag_id, run_id, conf))
        return {"dag_run_id": run_id}

    monkeypatch.setattr(airflow_api.AirflowAPI, "trigger", trigger)
    # `srs submit` refuses a folder that is not there, so both folders are laid out first.
    lay_out(p, Place("1234567", INGEST, FOLDER), {"lookup.csv": TABLE})
    lay_out(p, Place("1234567", "Working", FOLDER), {"lookup.csv": TABLE})
    argv = [
        "submit",
        "ingest",
        "--project",
        "1234567",
        "--folder",
        FOLDER,
        "--researcher",
        "r_rahman",
    ]
    assert cli.main(argv) == 0
    argv = ["submit", "transfer", "--project", "1234567", "--source-area", "Working"]
    argv += ["--folder", FOLDER, "--destination", "4567890", "--researcher", "r_rahman"]
    assert cli.main(argv) == 0
    (d1, run1, conf1), (d2, run2, conf2) = started
    assert d1 == "ingest_request" and run1.endswith("-r1") and conf1["stats_id"] == run1[:-3]
    assert d2 == "transfer_request" and conf2["destination"] == "4567890"
    assert conf2["source_area"] == "Working"
    t = p.store.get(conf2["stats_id"])
    assert (t.kind, t.destination_project, t.details["source_area"]) == (
        "transfer",
        "4567890",
        "Working",
    )
    assert cli.main(argv) == 0  # submitted again before its run started: the same ticket
    assert started[-1][2]["stats_id"] == t.stats_id


def test_an_ingest_form_naming_another_researcher_is_refused(p, smtp_sink):
    lay_out(p, Place("1234567", INGEST, FOLDER), {"lookup.csv": TABLE}, researcher="r_rahman")
    result = ingest(p, requester="r_jones")  # on the project too, but not the form's researcher
    assert not result.accepted
    assert result.reasons[0].rule == "request_form_incomplete"
    assert "names researcher 'r_rahman', but the request is made by 'r_jones'" in (
        result.reasons[0].message
    )


def test_a_resubmission_in_another_researchers_name_is_refused(p):
    lay_out(p, Place("1234567", INGEST, FOLDER), {"lookup.csv": TABLE})
    t = p.store.get(ingest(p).stats_id)
    through_checks(p, t.stats_id)
    out.officers_decision(
        p,
        t.stats_id,
        [out.Response("officer_1", t.assigned_officers[0], "Query researcher", "Why?")],
    )
    out.request_revisions(p, t.stats_id)
    v2 = out.next_version(FOLDER)
    lay_out(p, Place("1234567", INGEST, v2), {"lookup.csv": TABLE}, researcher="r_jones")
    with pytest.raises(ValueError, match="names researcher 'r_jones', but the request is made by"):
        ingest(p, folder=v2, stats_id=t.stats_id, run_id=f"{t.stats_id}-r2")
    assert p.store.get(t.stats_id).round == 1
