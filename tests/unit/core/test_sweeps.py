"""The intake and project-closure sweeps as plain Python, with a fake Airflow API recording calls."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pytest

from include import request_steps as out
from include import sweeps
from include.demo import DEMO_FOLDER, DEMO_PROJECT, demo_form_bytes, write_demo_request
from include.states import TicketState as S
from include.storage import Place
from include.tickets import StaleState

DEMO = Path(__file__).resolve().parents[3] / "demo" / "registry.yaml"
READY = "Ready for Checking"
ENDED = "3456789"  # the demo project that ended on 2026-06-30


class FakeAirflow:
    """Airflow as the sweeps see it: a run id is started once (a second start of it is refused
    with ``RunExists``, Airflow's 409); every call is recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.runs: dict[tuple[str, str], dict] = {}
        self.waiting: dict[tuple[str, str], list[dict]] = {}
        self.notes: dict[tuple[str, str], str] = {}

    def trigger(self, dag_id, run_id, conf):
        from include.airflow_api import RunExists

        self.calls.append(("trigger", dag_id, run_id, conf))
        if (dag_id, run_id) in self.runs:
            raise RunExists(dag_id, run_id)  # 409: the first run is kept
        self.runs[(dag_id, run_id)] = dict(conf)
        return {"dag_run_id": run_id, "conf": conf}

    def waiting_tasks(self, dag_id, run_id):
        self.calls.append(("waiting_tasks", dag_id, run_id))
        if (dag_id, run_id) not in self.runs:
            return None
        return [dict(t) for t in self.waiting.get((dag_id, run_id), [])]

    def skip_task(self, dag_id, run_id, task_id, map_index, note):
        self.calls.append(("skip_task", dag_id, run_id, task_id, map_index))
        self.waiting[(dag_id, run_id)] = [
            t
            for t in self.waiting.get((dag_id, run_id), [])
            if (t["task_id"], t["map_index"]) != (task_id, map_index)
        ]

    def set_run_note(self, dag_id, run_id, note):
        self.calls.append(("set_run_note", dag_id, run_id))
        if (dag_id, run_id) not in self.runs:
            return False
        self.notes[(dag_id, run_id)] = note
        return True

    def triggered(self):
        return [c for c in self.calls if c[0] == "trigger"]


@pytest.fixture
def p(demo_pipeline):
    return demo_pipeline


@pytest.fixture
def api():
    return FakeAirflow()


def tickets_of(p, project=DEMO_PROJECT):
    return p.store.find(project=project)


# --- intake sweep -------------------------------------------------------------------------------


def test_new_folder_gets_one_ticket_and_one_run_however_often_swept(p, api, smtp_sink):
    write_demo_request(p.storage)
    first = sweeps.sweep_intake(p, api)
    assert first.errors == [] and first.not_started == []
    [ticket] = tickets_of(p)
    assert (ticket.folder, ticket.requester, ticket.state) == (DEMO_FOLDER, "r_rahman", S.RECEIVED)
    assert ticket.details["submitted_via"] == "intake_sweep"
    assert api.triggered() == [
        (
            "trigger",
            "output_request",
            f"{ticket.stats_id}-r1",
            {
                "project": DEMO_PROJECT,
                "folder": DEMO_FOLDER,
                "researcher": "r_rahman",
                "stats_id": ticket.stats_id,
            },
        )
    ]
    assert p.store.get(ticket.stats_id).round_of(1).triggered_run_id == f"{ticket.stats_id}-r1"

    second = sweeps.sweep_intake(p, api)
    assert second.started == [] and len(tickets_of(p)) == 1
    assert len(api.triggered()) == 1

    # The run's intake takes over the ticket the sweep registered: still one ticket.
    result = out.intake(
        p,
        started_by="ops",
        project=DEMO_PROJECT,
        folder=DEMO_FOLDER,
        requester="r_rahman",
        run_id=f"{ticket.stats_id}-r1",
        stats_id=ticket.stats_id,
    )
    assert result.accepted and result.stats_id == ticket.stats_id
    sweeps.sweep_intake(p, api)
    assert len(tickets_of(p)) == 1 and len(api.triggered()) == 1
    assert not any("not submitted" in str(m["Subject"]) for m in smtp_sink.messages())


def test_a_run_that_did_not_start_is_started_by_the_next_sweep(p, api):
    from include.airflow_api import AirflowAPIError

    write_demo_request(p.storage)

    class Down(FakeAirflow):
        def trigger(self, dag_id, run_id, conf):
            raise AirflowAPIError("cannot reach Airflow")

    failed = sweeps.sweep_intake(p, Down())
    assert failed.started == [] and len(failed.errors) == 1
    [ticket] = tickets_of(p)
    assert any(e.action == "run_not_started" for e in p.store.audit(ticket.stats_id))
    again = sweeps.sweep_intake(p, api)
    assert again.errors == [] and [c[2] for c in api.triggered()] == [f"{ticket.stats_id}-r1"]
    assert len(tickets_of(p)) == 1
    sweeps.sweep_intake(p, api)
    assert len(api.triggered()) == 1


def test_a_registrar_that_died_before_the_trigger_leaves_one_run_to_the_next_sweep(p, api):
    """Registered (the insert committed), then the process died: no trigger recorded. The next
    sweep starts the run; if the dead one had reached Airflow (409), that is "already started"."""
    write_demo_request(p.storage)
    t = out.register(
        p, kind="output", project=DEMO_PROJECT, folder=DEMO_FOLDER, requester="r_rahman", via="x"
    )
    assert p.store.get(t.stats_id).round_of(1).triggered_run_id is None
    first = sweeps.sweep_intake(p, api)
    assert first.started == [f"{t.run_id} {DEMO_FOLDER}"] and first.errors == []
    assert p.store.get(t.stats_id).round_of(1).triggered_run_id == t.run_id
    assert sweeps.sweep_intake(p, api).started == [] and len(api.triggered()) == 1

    # The trigger reached Airflow but its recording did not (a second ticket, same story).
    copy = "2026_11_21_EnergyDied_v1"
    write_demo_request(p.storage, folder=copy)
    u = out.register(
        p, kind="output", project=DEMO_PROJECT, folder=copy, requester="r_rahman", via="x"
    )
    api.runs[("output_request", u.run_id)] = {}
    second = sweeps.sweep_intake(p, api)
    assert second.errors == [] and second.started == []
    assert second.already == [f"{u.run_id} {copy}"]
    assert p.store.get(u.stats_id).round_of(1).triggered_run_id == u.run_id
    assert sweeps.sweep_intake(p, api).already == []  # recorded now: Airflow is not asked again
    assert [c[2] for c in api.triggered()] == [t.run_id, u.run_id]


def test_v2_of_a_blocked_request_starts_its_next_round(p, api, smtp_sink):
    write_demo_request(p.storage)
    sweeps.sweep_intake(p, api)
    [t] = tickets_of(p)
    out.intake(
        p,
        started_by="ops",
        project=DEMO_PROJECT,
        folder=DEMO_FOLDER,
        requester="r_rahman",
        run_id=t.run_id,
        stats_id=t.stats_id,
    )
    out.take_snapshot(p, t.stats_id)
    out.run_checks(p, t.stats_id)
    t = p.store.get(t.stats_id)
    responses = [
        out.Response(
            "officer_1", t.assigned_officers[0], "Request revisions", guidance="Round the means."
        ),
        out.Response("officer_2", t.assigned_officers[1], "Pass"),
    ]
    assert out.officers_decision(p, t.stats_id, responses) == "revisions"
    out.request_revisions(p, t.stats_id)
    assert sweeps.sweep_intake(p, api).started == []  # nothing new yet

    v2 = out.next_version(DEMO_FOLDER)
    place = Place(DEMO_PROJECT, READY, v2)
    p.storage.copy_folder(Place(DEMO_PROJECT, READY, DEMO_FOLDER), place)
    p.storage.write_bytes(place, "output_request_form.xlsx", demo_form_bytes(DEMO_PROJECT, v2))
    result = sweeps.sweep_intake(p, api)
    assert result.started == [f"{t.stats_id}-r2 {v2}"]
    assert len(tickets_of(p)) == 1  # no new ticket: the same one, next round
    trigger = api.triggered()[-1]
    assert trigger[1:3] == ("output_request", f"{t.stats_id}-r2")
    assert trigger[3]["stats_id"] == t.stats_id and trigger[3]["folder"] == v2
    # Before the run's intake: the same run id, refused by Airflow, is "already started".
    again = sweeps.sweep_intake(p, api)
    assert again.started == [] and again.errors == []
    assert again.already == [f"{t.stats_id}-r2 {v2}"]
    assert [c[2] for c in api.triggered()] == [
        f"{t.stats_id}-r1",
        f"{t.stats_id}-r2",
        f"{t.stats_id}-r2",
    ]
    assert list(api.runs) == [
        ("output_request", f"{t.stats_id}-r1"),
        ("output_request", f"{t.stats_id}-r2"),
    ]

    # The run starts round 2; both folders are the ticket's from now on.
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
    assert [r.folder for r in p.store.get(t.stats_id).rounds] == [DEMO_FOLDER, v2]
    calls = len(api.triggered())
    assert sweeps.sweep_intake(p, api).started == []
    assert len(api.triggered()) == calls and len(tickets_of(p)) == 1


def test_folders_that_cannot_start_are_logged_and_told_once(p, api, smtp_sink):
    # A copy whose form still names the old folder; a folder with no form; an unsafe name.
    write_demo_request(p.storage)
    copy = "2026_11_21_EnergyCopy_v1"
    p.storage.copy_folder(Place(DEMO_PROJECT, READY, DEMO_FOLDER), Place(DEMO_PROJECT, READY, copy))
    p.store.create(
        kind="output", project=DEMO_PROJECT, requester="r_rahman", folder=DEMO_FOLDER, actor="t"
    )
    p.storage.write_bytes(
        Place(DEMO_PROJECT, READY, "2026_11_22_NoForm_v1"), "table.csv", b"a,n\nx,12\n"
    )
    root = Path(p.settings.storage_root) / "projects" / DEMO_PROJECT / READY
    os.mkdir(root / "bad:name")

    first = sweeps.sweep_intake(p, api)
    assert first.started == [] and first.errors == []
    by_folder = {n.folder: n for n in first.not_started}
    assert (
        by_folder[copy].rule == "request_form_incomplete"
        and "emailed r_rahman" in by_folder[copy].notice
    )
    assert by_folder["2026_11_22_NoForm_v1"].rule == "request_form_missing"
    assert "log only" in by_folder["2026_11_22_NoForm_v1"].notice
    assert by_folder["bad:name"].rule == "link_or_escape"
    assert any("NOT STARTED" in line and "bad:name" in line for line in first.log_lines())
    mails = smtp_sink.wait_for(1)
    assert mails[0]["To"] == "ruth.rahman@university.example"
    assert copy in mails[0]["Subject"] and "the form names folder" in mails[0].get_content()

    second = sweeps.sweep_intake(p, api)
    assert {n.folder for n in second.not_started} == set(by_folder)
    assert "already emailed" in {n.folder: n for n in second.not_started}[copy].notice
    assert len(smtp_sink.messages()) == 1  # one email over two sweeps
    assert api.triggered() == [] and len(tickets_of(p)) == 1
    stored = {(n["folder"], n["rule"]): n["status"] for n in sweeps.notices(p, DEMO_PROJECT)}
    assert stored[(copy, "request_form_incomplete")] == "sent"
    assert stored[("bad:name", "link_or_escape")] == "nobody"

    # Fixed in place: the folder starts, and the old notice does not send anything again.
    p.storage.write_bytes(
        Place(DEMO_PROJECT, READY, copy),
        "output_request_form.xlsx",
        demo_form_bytes(DEMO_PROJECT, copy),
    )
    third = sweeps.sweep_intake(p, api)
    assert [s.split()[1] for s in third.started] == [copy]
    assert len(smtp_sink.messages()) == 1


def test_a_symlinked_request_folder_is_not_started_and_told_once(p, api, smtp_sink, tmp_path):
    # Before: the link raised UnsafePath out of the form check, so every sweep had an error
    # (and the intake_sweep DAG failed with SweepIncomplete) and nobody was ever told.
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.csv").write_text("id\n1\n")
    root = Path(p.settings.storage_root) / "projects" / DEMO_PROJECT / READY
    os.symlink(outside, root / "2026_11_30_Link_v1", target_is_directory=True)
    write_demo_request(p.storage)  # a good folder beside it still starts

    first = sweeps.sweep_intake(p, api)
    assert first.errors == [] and [s.split()[1] for s in first.started] == [DEMO_FOLDER]
    [link] = first.not_started
    assert (link.folder, link.rule) == ("2026_11_30_Link_v1", "link_or_escape")
    assert "is a symbolic link" in link.message and "plain folder" in link.message
    assert link.notice == "emailed r_jones, r_rahman"  # the project's researchers
    [mail] = smtp_sink.wait_for(1)
    assert mail["To"] == "gareth.jones@university.example, ruth.rahman@university.example"
    assert "2026_11_30_Link_v1" in mail["Subject"]
    body = mail.get_content()
    assert "Gareth Jones and Ruth Rahman" in body and "symbolic link" in body

    second = sweeps.sweep_intake(p, api)
    assert second.errors == [] and second.started == []
    assert [n.notice for n in second.not_started] == ["researcher already emailed"]
    assert len(smtp_sink.messages()) == 1
    assert [t.folder for t in tickets_of(p)] == [DEMO_FOLDER] and len(api.triggered()) == 1
    assert (outside / "secret.csv").read_text() == "id\n1\n"  # the link's target untouched


def test_a_link_inside_a_folder_tells_the_projects_researchers(p, api, smtp_sink, tmp_path):
    write_demo_request(p.storage)
    (tmp_path / "secret.csv").write_text("id\n1\n")
    root = Path(p.settings.storage_root) / "projects" / DEMO_PROJECT / READY
    os.symlink(tmp_path / "secret.csv", root / DEMO_FOLDER / "more.csv")
    result = sweeps.sweep_intake(p, api)
    assert result.errors == [] and result.started == [] and tickets_of(p) == []
    [n] = result.not_started
    assert n.rule == "link_or_escape" and "more.csv" in n.message
    assert n.notice == "emailed r_jones, r_rahman"


def test_a_hard_linked_file_in_a_folder_is_refused_like_a_link(p, api, smtp_sink, tmp_path):
    write_demo_request(p.storage)
    (tmp_path / "secret.csv").write_text("id\n1\n")
    root = Path(p.settings.storage_root) / "projects" / DEMO_PROJECT / READY
    os.link(tmp_path / "secret.csv", root / DEMO_FOLDER / "more.csv")
    result = sweeps.sweep_intake(p, api)
    assert result.errors == [] and result.started == [] and tickets_of(p) == []
    [n] = result.not_started
    assert n.rule == "link_or_escape" and "more.csv" in n.message
    assert "is a hard link" in n.message and "plain copy" in n.message
    assert "hard link" in smtp_sink.wait_for(1)[0].get_content()
    # Replaced by a plain copy: the folder starts.
    os.unlink(root / DEMO_FOLDER / "more.csv")
    (root / DEMO_FOLDER / "more.csv").write_text("id\n1\n")
    assert [s.split()[1] for s in sweeps.sweep_intake(p, api).started] == [DEMO_FOLDER]


def test_grace_period_before_telling_the_researcher(p, api, smtp_sink):
    write_demo_request(p.storage)
    p.store.create(
        kind="output", project=DEMO_PROJECT, requester="r_rahman", folder=DEMO_FOLDER, actor="t"
    )
    copy = "2026_11_21_EnergyCopy_v1"
    p.storage.copy_folder(Place(DEMO_PROJECT, READY, DEMO_FOLDER), Place(DEMO_PROJECT, READY, copy))
    result = sweeps.sweep_intake(p, api, grace=timedelta(minutes=10))
    assert "not emailed yet" in result.not_started[0].notice
    assert smtp_sink.messages() == []


def test_ingest_landing_folder_starts_an_ingest_run(p, api, smtp_sink):
    from include.checks.ingest_form import IngestFile, IngestForm, write_ingest_form
    from include.storage import INGEST

    folder = "2026_11_20_HouseholdLookup_v1"
    place = Place("2345678", INGEST, folder)
    p.storage.write_bytes(place, "lookup.csv", b"region,year\nE12000001,2023\n")
    tmp = Path(p.settings.data_dir)
    tmp.mkdir(parents=True, exist_ok=True)
    form = IngestForm(
        project="2345678",
        researcher="Chidi Okafor",  # the full name is fine too
        folder=folder,
        date="2026-11-20",
        purpose="Lookup for the linkage feasibility study",
        files=[IngestFile("lookup.csv", "region lookup", ["region", "year"])],
    )
    p.storage.write_bytes(
        place, "ingest_request_form.xlsx", write_ingest_form(tmp / "f.xlsx", form).read_bytes()
    )
    result = sweeps.sweep_intake(p, api)
    assert result.errors == [] and result.not_started == []
    [ticket] = tickets_of(p, "2345678")
    assert (ticket.kind, ticket.folder, ticket.requester) == ("ingest", folder, "r_okafor")
    assert [c[1:3] for c in api.triggered()] == [("ingest_request", f"{ticket.stats_id}-r1")]
    sweeps.sweep_intake(p, api)
    assert len(api.triggered()) == 1 and len(tickets_of(p, "2345678")) == 1


def test_ended_and_not_started_projects_are_not_swept(p, api):
    write_demo_request(p.storage, ENDED, "2026_11_20_Late_v1", "r_jones")
    assert sweeps.sweep_intake(p, api).started == []
    assert tickets_of(p, ENDED) == []


# --- project closure ----------------------------------------------------------------------------


def _ticket_in(p, state, project=ENDED, requester="r_jones", folder=None):
    path = {
        S.RECEIVED: [],
        S.CHECKING: [S.CHECKING],
        S.AWAITING_OFFICERS: [S.CHECKING, S.AWAITING_OFFICERS],
        S.AWAITING_DATA_OWNER: [S.CHECKING, S.AWAITING_OFFICERS, S.AWAITING_DATA_OWNER],
        S.REVISIONS_REQUESTED: [S.CHECKING, S.AWAITING_OFFICERS, S.REVISIONS_REQUESTED],
        S.RELEASING: [S.CHECKING, S.AWAITING_OFFICERS, S.RELEASING],
        S.RELEASED: [S.CHECKING, S.AWAITING_OFFICERS, S.RELEASING, S.RELEASED],
    }[state]
    t = p.store.create(
        kind="output",
        project=project,
        requester=requester,
        folder=folder or f"f_{state}_v1",
        actor="t",
    )
    for step in path:
        t = p.store.transition(t.stats_id, step, actor="t")
    return t


def test_closure_closes_every_open_ticket_once_and_finishes_waiting_runs(p, api, smtp_sink):
    waiting = _ticket_in(p, S.AWAITING_OFFICERS)
    owner = _ticket_in(p, S.AWAITING_DATA_OWNER)
    blocked = _ticket_in(p, S.REVISIONS_REQUESTED)
    received = _ticket_in(p, S.RECEIVED)
    released = _ticket_in(p, S.RELEASED)
    in_flight = _ticket_in(p, S.RELEASING)
    live = _ticket_in(p, S.AWAITING_OFFICERS, project=DEMO_PROJECT, requester="r_rahman")
    for t in (waiting, owner, blocked, released, live):
        api.runs[("output_request", t.run_id)] = {}
    api.waiting[("output_request", waiting.run_id)] = [
        {"task_id": "officer_1", "map_index": -1, "state": "awaiting_input"},
        {"task_id": "officer_2", "map_index": -1, "state": "awaiting_input"},
    ]
    api.waiting[("output_request", owner.run_id)] = [
        {"task_id": "data_owner_signoff", "map_index": 0, "state": "awaiting_input"}
    ]

    result = sweeps.close_ended_projects(p, api)
    assert result.errors == [] and ENDED in result.ended_projects
    for t in (waiting, owner, blocked, received):
        closed = p.store.get(t.stats_id)
        assert closed.state == S.CLOSED_PROJECT_ENDED, t.stats_id
        event = [e for e in p.store.audit(t.stats_id) if e.to_state == S.CLOSED_PROJECT_ENDED]
        assert len(event) == 1 and event[0].details["rule"] == "project_closed"
        assert (
            event[0].details["end_date"] == "2026-06-30"
            and event[0].actor == "project_closure_sweep"
        )
        assert closed.details["closure_run"]["run_id"] == t.run_id
    assert p.store.get(released.stats_id).state == S.RELEASED  # it has left: only archived now
    assert p.store.get(in_flight.stats_id).state == S.RELEASING  # a release under way finishes
    assert p.store.get(live.stats_id).state == S.AWAITING_OFFICERS  # a live project: untouched

    skips = sorted(c[2:] for c in api.calls if c[0] == "skip_task")
    assert skips == sorted(
        [
            (waiting.run_id, "officer_1", -1),
            (waiting.run_id, "officer_2", -1),
            (owner.run_id, "data_owner_signoff", 0),
        ]
    )
    note = api.notes[("output_request", waiting.run_id)]
    assert (
        note.startswith(f"Closed: project {ENDED} ended on 2026-06-30")
        and "Nothing was released" in note
    )
    assert ("output_request", blocked.run_id) in api.notes  # its finished run says why, too
    assert p.store.get(received.stats_id).details["closure_run"]["found"] is False  # never ran

    mails = smtp_sink.wait_for(4)
    assert sorted(m["Subject"] for m in mails) == sorted(
        f"[{t.stats_id}] Output request closed: project {ENDED} has ended"
        for t in (waiting, owner, blocked, received)
    )
    assert all(m["To"] == "gareth.jones@university.example" for m in mails)

    calls, events = (
        len(api.calls),
        {t.stats_id: len(p.store.audit(t.stats_id)) for t in (waiting, blocked)},
    )
    again = sweeps.close_ended_projects(p, api)
    assert again.closed == [] and again.runs_finished == [] and again.errors == []
    assert len(api.calls) == calls  # nothing more asked of Airflow
    assert {t.stats_id: len(p.store.audit(t.stats_id)) for t in (waiting, blocked)} == events
    assert len(smtp_sink.messages()) == 4


def test_a_stuck_release_is_closed_but_a_fresh_one_is_left(p, api, monkeypatch):
    t = _ticket_in(p, S.RELEASING)
    assert sweeps.close_ended_projects(p, api).left
    monkeypatch.setattr(sweeps, "STUCK_AFTER", timedelta(0))
    sweeps.close_ended_projects(p, api)
    assert p.store.get(t.stats_id).state == S.CLOSED_PROJECT_ENDED


def test_a_closed_ticket_is_never_released(p, api, smtp_sink):
    write_demo_request(p.storage)
    t = p.store.get(
        out.intake(
            p,
            started_by="ops",
            project=DEMO_PROJECT,
            folder=DEMO_FOLDER,
            requester="r_rahman",
            run_id="manual__1",
        ).stats_id
    )
    out.take_snapshot(p, t.stats_id)
    out.run_checks(p, t.stats_id)
    passes = [
        out.Response(f"officer_{i + 1}", o, "Pass") for i, o in enumerate(t.assigned_officers)
    ]
    assert out.officers_decision(p, t.stats_id, passes) == "release"
    # The project ends before the release task runs.
    result = sweeps.close_ended_projects(p, api, today=date(2029, 1, 1))
    assert DEMO_PROJECT in result.ended_projects
    assert p.store.get(t.stats_id).state == S.CLOSED_PROJECT_ENDED
    with pytest.raises(StaleState):
        out.release(p, t.stats_id)
    assert p.store.get(t.stats_id).state == S.CLOSED_PROJECT_ENDED
    subjects = [m["Subject"] for m in smtp_sink.wait_for(2)]
    assert not any("cleared" in s for s in subjects)
    assert any("has ended" in s for s in subjects)
