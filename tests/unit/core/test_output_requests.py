"""The output-request steps as plain Python: the same functions the DAG's tasks call."""

import hashlib
from pathlib import Path

import pytest

from include import request_steps as out
from include.demo import DEMO_FOLDER, DEMO_PROJECT, write_demo_request
from include.mailsink import envelope_recipients
from include.permissions import NotPermitted
from include.pipeline import Pipeline
from include.release import ReleaseHeld
from include.settings import reset_settings
from include.signoffs import validate_response
from include.states import TicketState as S
from include.storage import Place

DEMO = Path(__file__).resolve().parents[3] / "demo" / "registry.yaml"


@pytest.fixture
def p(demo_pipeline):
    write_demo_request(demo_pipeline.storage)
    return demo_pipeline


def submit(
    p, run_id="manual__1", project=DEMO_PROJECT, folder=DEMO_FOLDER, requester="r_rahman", **kw
):
    return out.intake(
        p,
        started_by="ops",
        project=project,
        folder=folder,
        requester=requester,
        run_id=run_id,
        **kw,
    )


def passes(ticket, exemption=""):
    return [
        out.Response("officer_1", ticket.assigned_officers[0], "Pass", exemption=exemption),
        out.Response("officer_2", ticket.assigned_officers[1], "Pass", exemption=exemption),
    ]


def test_happy_path_release_and_archive(p, smtp_sink):
    result = submit(p)
    assert result.accepted and result.round == 1
    t = p.store.get(result.stats_id)
    assert len(set(t.assigned_officers)) == 2
    ack = smtp_sink.wait_for(1)[0]
    assert ack["Subject"] == f"[{t.stats_id}] Output request received for project {DEMO_PROJECT}"
    assert submit(p).stats_id == t.stats_id  # a retried intake: same ticket, no second email

    snap = out.take_snapshot(p, t.stats_id)
    assert snap["files"] == 4
    summary = out.run_checks(p, t.stats_id)
    assert summary["verdict"] == "pass", summary
    assert p.store.get(t.stats_id).state == S.AWAITING_OFFICERS
    assert (
        out.officers_decision(p, t.stats_id, passes(t)) == "release"
    )  # Census2021 + LFS: no approval
    out.release(p, t.stats_id)
    out.release(p, t.stats_id)  # retried: still one email
    mails = smtp_sink.wait_for(2)
    assert len(smtp_sink.messages()) == 2
    released = mails[1]
    assert released["Subject"].startswith(f"[{t.stats_id}] Output cleared")
    names = sorted(a.get_filename() for a in released.iter_attachments())
    assert names == [
        "energy_by_tenure_region.csv",
        "energy_model.py",
    ]  # never supporting or the form
    manifest = out.snapshot_manifest(p.store.get(t.stats_id))
    for part in released.iter_attachments():
        digest = hashlib.sha256(part.get_payload(decode=True)).hexdigest()
        assert digest == manifest.get(part.get_filename()).sha256
    assert "lfs.owner@dataowner.example" in envelope_recipients(released)  # LFS: for information
    assert "lfs.owner@dataowner.example" not in str(released["To"]) + str(released.get("Cc", ""))

    out.archive(p, t.stats_id)
    assert p.store.get(t.stats_id).state == S.ARCHIVED
    where = p.archive_place(p.store.get(t.stats_id))
    stored = {f.path for f in p.storage.list_files(where)}
    assert {
        "decisions.json",
        "ticket.json",
        "audit.json",
        "round1/manifest.json",
        "round1/check.json",
    } <= stored
    assert f"round1/{DEMO_FOLDER}/energy_by_tenure_region.csv" in stored
    assert {"emails/ack-r1.eml", "emails/release.eml"} <= stored
    assert b"Bcc: lfs.owner" in p.storage.read_bytes(where, "emails/release.eml")


def test_exploratory_project_is_rejected_with_email(p, smtp_sink):
    p.storage.copy_folder(
        Place(DEMO_PROJECT, "Ready for Checking", DEMO_FOLDER),
        Place("2345678", "Ready for Checking", DEMO_FOLDER),
    )
    result = submit(p, project="2345678", requester="r_okafor")
    assert not result.accepted
    assert [r.rule for r in result.reasons] == ["outputs_need_full_project"]
    t = p.store.get(result.stats_id)
    assert t.state == S.REJECTED
    mail = smtp_sink.wait_for(1)[0]
    assert mail["Subject"].startswith(f"[{t.stats_id}]")
    assert "only full projects may request outputs" in mail.get_content()


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"requester": "r_smith"}, "not_a_researcher"),
        ({"project": "9999999"}, "project_not_live"),
        ({"project": "../../etc"}, "project_not_live"),
        ({"folder": "no_such_folder"}, "request_form_missing"),
        ({"folder": "../Working"}, "link_or_escape"),
    ],
)
def test_refusals_name_the_rule(p, kwargs, rule):
    result = submit(p, **kwargs)
    assert not result.accepted and result.reasons[0].rule == rule
    assert p.store.get(result.stats_id).state == S.REJECTED


def test_incomplete_form_is_refused(p):
    from include.checks.request_form import read_output_form, write_output_form

    place = Place(DEMO_PROJECT, "Ready for Checking", DEMO_FOLDER)
    tmp = Path(p.settings.data_dir) / "f.xlsx"
    tmp.write_bytes(p.storage.read_bytes(place, "output_request_form.xlsx"))
    form = read_output_form(tmp)
    form.files[0].methodology = ""
    write_output_form(tmp, form)
    p.storage.write_bytes(place, "output_request_form.xlsx", tmp.read_bytes())
    result = submit(p)
    assert result.reasons[0].rule == "request_form_incomplete"
    assert "Methodology" in result.reasons[0].message


def _name_researcher_on_form(p, named):
    from include.checks.request_form import read_output_form, write_output_form

    place = Place(DEMO_PROJECT, "Ready for Checking", DEMO_FOLDER)
    tmp = Path(p.settings.data_dir) / "f.xlsx"
    tmp.write_bytes(p.storage.read_bytes(place, "output_request_form.xlsx"))
    form = read_output_form(tmp)
    form.researcher = named
    write_output_form(tmp, form)
    p.storage.write_bytes(place, "output_request_form.xlsx", tmp.read_bytes())


def test_a_form_naming_another_researcher_is_refused(p, smtp_sink):
    # The demo form is r_rahman's; r_jones is a researcher on the project too, and eligible.
    result = submit(p, requester="r_jones")
    assert not result.accepted
    reason = result.reasons[0]
    assert reason.rule == "request_form_incomplete"
    assert "names researcher 'r_rahman', but the request is made by 'r_jones'" in reason.message
    assert p.store.get(result.stats_id).state == S.REJECTED
    assert not p.store.get(result.stats_id).assigned_officers


@pytest.mark.parametrize("named", ["r_rahman", "Ruth Rahman", "ruth rahman"])
def test_the_form_may_name_the_requester_by_username_or_name(p, named):
    _name_researcher_on_form(p, named)
    assert submit(p).accepted


def test_snapshot_is_what_is_checked_and_released(p, smtp_sink):
    t = p.store.get(submit(p).stats_id)
    out.take_snapshot(p, t.stats_id)
    src = Place(DEMO_PROJECT, "Ready for Checking", DEMO_FOLDER)
    p.storage.write_bytes(
        src, "energy_by_tenure_region.csv", b"region,n\nE12000001,3\n"
    )  # edited later
    out.take_snapshot(p, t.stats_id)  # a retry does not re-copy
    assert out.run_checks(p, t.stats_id)["verdict"] == "pass"
    out.officers_decision(p, t.stats_id, passes(t))
    out.release(p, t.stats_id)
    released = smtp_sink.wait_for(2)[1]
    csv = next(a for a in released.iter_attachments() if a.get_filename().endswith(".csv"))
    assert b"E12000001,Owner occupied,412" in csv.get_payload(decode=True)


def test_tampered_snapshot_is_never_released(p, smtp_sink):
    t = p.store.get(submit(p).stats_id)
    out.take_snapshot(p, t.stats_id)
    out.run_checks(p, t.stats_id)
    out.officers_decision(p, t.stats_id, passes(t))
    p.storage.write_bytes(out.snapshot_place(t), "energy_model.py", b"print('changed')\n")
    with pytest.raises(ReleaseHeld, match="no longer matches"):
        out.release(p, t.stats_id)
    assert p.store.get(t.stats_id).state == S.RELEASE_HELD
    subjects = [m["Subject"] for m in smtp_sink.wait_for(2)]
    assert not any("cleared" in s for s in subjects)
    assert any("Release held" in s for s in subjects)


def test_too_large_is_held_for_operations(p, smtp_sink, monkeypatch):
    monkeypatch.setenv("SRS_MAX_ATTACHMENT_BYTES", "100")
    reset_settings()
    p = Pipeline()
    t = p.store.get(submit(p).stats_id)
    out.take_snapshot(p, t.stats_id)
    out.run_checks(p, t.stats_id)
    out.officers_decision(p, t.stats_id, passes(t))
    with pytest.raises(ReleaseHeld, match="attachment limit"):
        out.release(p, t.stats_id)
    held = smtp_sink.wait_for(2)[1]
    assert "srs.operations@srs.example" in held["To"]


def test_revisions_then_round_two_release(p, smtp_sink):
    t = p.store.get(submit(p).stats_id)
    out.take_snapshot(p, t.stats_id)
    out.run_checks(p, t.stats_id)
    responses = [
        out.Response(
            "officer_1",
            t.assigned_officers[0],
            "Request revisions",
            guidance="Round the means to 10 kWh.",
        ),
        out.Response(
            "officer_2",
            t.assigned_officers[1],
            "Query researcher",
            guidance="What is the base population?",
        ),
    ]
    assert out.officers_decision(p, t.stats_id, responses) == "revisions"
    out.request_revisions(p, t.stats_id)
    out.request_revisions(p, t.stats_id)  # retried: one email
    assert p.store.get(t.stats_id).state == S.REVISIONS_REQUESTED
    mail = smtp_sink.wait_for(2)[1]
    assert len(smtp_sink.messages()) == 2
    body = mail.get_content()
    assert "Round the means to 10 kWh." in body and "What is the base population?" in body
    assert f"{DEMO_FOLDER[:-3]}_v2" in body

    v2 = DEMO_FOLDER.replace("_v1", "_v2")
    with pytest.raises(ValueError, match="not resubmitted"):
        submit(p, run_id=f"{t.stats_id}-r2", stats_id=t.stats_id, folder=v2)  # not copied yet
    p.storage.copy_folder(
        Place(DEMO_PROJECT, "Ready for Checking", DEMO_FOLDER),
        Place(DEMO_PROJECT, "Ready for Checking", v2),
    )
    from include.demo import demo_form_bytes

    p.storage.write_bytes(
        Place(DEMO_PROJECT, "Ready for Checking", v2),
        "output_request_form.xlsx",
        demo_form_bytes(DEMO_PROJECT, v2),
    )
    r2 = submit(p, run_id=f"{t.stats_id}-r2", stats_id=t.stats_id, folder=v2)
    assert r2.accepted and r2.round == 2 and r2.stats_id == t.stats_id
    assert submit(p, run_id=f"{t.stats_id}-r2", stats_id=t.stats_id, folder=v2).round == 2  # retry
    out.take_snapshot(p, t.stats_id)
    assert p.storage.exists(Place(DEMO_PROJECT, "Output", f"{t.stats_id}/{v2}"))
    out.run_checks(p, t.stats_id)
    assert out.officers_decision(p, t.stats_id, passes(t)) == "release"
    out.release(p, t.stats_id)
    out.archive(p, t.stats_id)
    stored = {f.path for f in p.storage.list_files(p.archive_place(p.store.get(t.stats_id)))}
    assert {
        "round1/manifest.json",
        "round2/manifest.json",
        "emails/revisions-r1.eml",
        "emails/ack-r2.eml",
    } <= stored


def test_data_owner_for_approval(p, smtp_sink):
    src = Place(DEMO_PROJECT, "Ready for Checking", DEMO_FOLDER)
    dst = Place("4567890", "Ready for Checking", DEMO_FOLDER)
    p.storage.copy_folder(src, dst)
    from include.demo import demo_form_bytes

    p.storage.write_bytes(
        dst, "output_request_form.xlsx", demo_form_bytes("4567890", DEMO_FOLDER, "r_smith")
    )
    t = p.store.get(submit(p, project="4567890", requester="r_smith").stats_id)
    out.take_snapshot(p, t.stats_id)
    out.run_checks(p, t.stats_id)
    assert out.officers_decision(p, t.stats_id, passes(t)) == "data_owner"
    assert p.store.get(t.stats_id).state == S.AWAITING_DATA_OWNER
    req = out.data_owner_request(p, t.stats_id, "ASHE")
    assert req.assignees == (("do_ashe", "Dara Owens (ASHE data owner)"),)
    with pytest.raises(NotPermitted, match="not a data owner"):
        out.data_owner_decision(
            p, t.stats_id, [out.Response("data_owner_ASHE", "do_lfs", "Approve", dataset="ASHE")]
        )
    with pytest.raises(NotPermitted, match="lacks data owner approval"):
        out.release(p, t.stats_id)
    assert (
        out.data_owner_decision(
            p, t.stats_id, [out.Response("data_owner_ASHE", "do_ashe", "Approve", dataset="ASHE")]
        )
        == "release"
    )
    out.release(p, t.stats_id)
    assert p.store.get(t.stats_id).state == S.RELEASED


def test_officer_independence_and_exemptions(p):
    t = p.store.get(submit(p).stats_id)
    out.take_snapshot(p, t.stats_id)
    out.run_checks(p, t.stats_id)
    a, b = t.assigned_officers
    with pytest.raises(NotPermitted, match="not independent|assigned"):
        out.officers_decision(
            p,
            t.stats_id,
            [out.Response("officer_1", a, "Pass"), out.Response("officer_2", a, "Pass")],
        )
    with pytest.raises(NotPermitted, match="not an SRS officer"):
        out.officers_decision(
            p,
            t.stats_id,
            [out.Response("officer_1", a, "Pass"), out.Response("officer_2", "r_jones", "Pass")],
        )
    assert any(e.action == "signoff_refused" for e in p.store.audit(t.stats_id))
    with pytest.raises(NotPermitted, match="lacks two independent officer passes"):
        out.release(p, t.stats_id)
    assert validate_response("Pass", "", "", blocking=2).startswith("the automated checks found 2")
    assert validate_response("Pass", "", "checked: structural zeros", blocking=2) is None
    assert "needs guidance" in validate_response("Request revisions", "  ", "", blocking=0)
    assert out.next_version("2024_01_16_X_v1") == "2024_01_16_X_v2"
    assert out.next_version("results") == "results_v2"


def test_direct_identifier_is_an_incident(p, smtp_sink):
    place = Place(DEMO_PROJECT, "Ready for Checking", DEMO_FOLDER)
    p.storage.write_bytes(
        place, "energy_by_tenure_region.csv", b"region,nhs_number,n\nE12000001,943 476 5919,12\n"
    )
    t = p.store.get(submit(p).stats_id)
    out.take_snapshot(p, t.stats_id)
    summary = out.run_checks(p, t.stats_id)
    assert summary["verdict"] == "fail" and summary["direct_identifiers"] >= 1
    assert any(e.action == "incident" for e in p.store.audit(t.stats_id))
    incident = [m for m in smtp_sink.wait_for(2) if "INCIDENT" in m["Subject"]]
    assert incident and "srs.operations@srs.example" in incident[0]["To"]
    with pytest.raises(NotPermitted, match="exemption"):
        out.officers_decision(p, t.stats_id, passes(t))


def test_a_chance_check_digit_match_is_for_review_not_an_incident(p):
    """Ten-digit turnovers: about 1 in 11 passes the NHS check digit by chance."""
    import random

    rng = random.Random(7)
    rows = "".join(f"S{i},{rng.randint(10**9, 10**10 - 1)},40\n" for i in range(100))
    place = Place(DEMO_PROJECT, "Ready for Checking", DEMO_FOLDER)
    p.storage.write_bytes(
        place, "energy_by_tenure_region.csv", f"sector,turnover_gbp,n\n{rows}".encode()
    )
    t = p.store.get(submit(p).stats_id)
    out.take_snapshot(p, t.stats_id)
    summary = out.run_checks(p, t.stats_id)
    assert summary["direct_identifiers"] == 0
    assert not any(e.action == "incident" for e in p.store.audit(t.stats_id))


def test_intake_of_a_closed_ticket_goes_no_further(p):
    t = out.register(
        p, kind="output", project=DEMO_PROJECT, folder=DEMO_FOLDER, requester="r_rahman", via="test"
    )
    p.store.transition(t.stats_id, S.CLOSED_PROJECT_ENDED, actor="closure")
    result = submit(p, run_id=t.run_id, stats_id=t.stats_id)
    assert not result.accepted and result.reasons[0].rule == "project_closed"


def test_a_folder_is_one_request(p):
    first = out.register(
        p, kind="output", project=DEMO_PROJECT, folder=DEMO_FOLDER, requester="r_rahman", via="test"
    )
    again = out.register(
        p, kind="output", project=DEMO_PROJECT, folder=DEMO_FOLDER, requester="r_rahman", via="test"
    )
    assert again.stats_id == first.stats_id  # not started yet: the same ticket
    submit(p, run_id=first.run_id, stats_id=first.stats_id)
    out.take_snapshot(p, first.stats_id)
    out.run_checks(p, first.stats_id)
    with pytest.raises(out.AlreadySubmitted, match=f"already request {first.stats_id}.*_v2"):
        out.register(
            p,
            kind="output",
            project=DEMO_PROJECT,
            folder=DEMO_FOLDER,
            requester="r_rahman",
            via="test",
        )
