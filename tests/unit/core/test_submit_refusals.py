"""`srs submit` refuses at once what cannot start: exit 2, a message naming the problem, no ticket."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from include import airflow_api, cli
from include import request_steps as out
from include.demo import DEMO_FOLDER, DEMO_PROJECT, write_demo_request

READY = "Ready for Checking"


@pytest.fixture
def p(demo_pipeline, monkeypatch):
    """The demo pipeline, with Airflow's trigger recorded (a refused submit never reaches it)."""
    demo_pipeline.triggered = []

    def trigger(self, dag_id, run_id, conf, logical_date=None):
        demo_pipeline.triggered.append((dag_id, run_id))
        return {"dag_run_id": run_id}

    monkeypatch.setattr(airflow_api.AirflowAPI, "trigger", trigger)
    return demo_pipeline


def submit(*args: str, kind: str = "output", project: str = DEMO_PROJECT) -> list[str]:
    argv = ["submit", kind, "--project", project, *args]
    return [*argv, "--researcher", "r_rahman"]


def refused(p, capsys, argv: list[str]) -> str:
    """Run the command; assert it was refused with exit 2, and nothing was registered or run."""
    assert cli.main(argv) == 2
    assert p.store.find() == [] and p.triggered == []
    err = capsys.readouterr().err
    assert err.startswith("srs: ") and "nothing was submitted" in err
    return err


def ready_root(p, project: str = DEMO_PROJECT) -> Path:
    return Path(p.settings.storage_root) / "projects" / project / READY


def test_a_good_folder_is_submitted(p, capsys):
    write_demo_request(p.storage)
    assert cli.main(submit("--folder", DEMO_FOLDER)) == 0
    [ticket] = p.store.find()
    assert ticket.folder == DEMO_FOLDER and p.triggered == [("output_request", ticket.run_id)]
    assert "submitted" in capsys.readouterr().out


def test_submitting_again_starts_nothing_new(p, capsys, monkeypatch):
    """A second `srs submit` of the same folder finds its ticket and its recorded run: no new
    ticket, Airflow not asked again; if Airflow already has the run (409), it says so."""
    from include.airflow_api import RunExists

    write_demo_request(p.storage)
    assert cli.main(submit("--folder", DEMO_FOLDER)) == 0
    capsys.readouterr()
    assert cli.main(submit("--folder", DEMO_FOLDER)) == 0
    [ticket] = p.store.find()
    assert p.triggered == [("output_request", ticket.run_id)]
    assert "already submitted" in capsys.readouterr().out

    copy = "2026_11_21_EnergyAgain_v1"  # registered, its trigger reached Airflow, then a crash
    write_demo_request(p.storage, folder=copy)
    other = out.register(
        p, kind="output", project=DEMO_PROJECT, folder=copy, requester="r_rahman", via="x"
    )

    def exists(self, dag_id, run_id, conf, logical_date=None):
        p.triggered.append((dag_id, run_id))
        raise RunExists(dag_id, run_id)

    monkeypatch.setattr(airflow_api.AirflowAPI, "trigger", exists)
    assert cli.main(submit("--folder", copy)) == 0
    assert "already submitted" in capsys.readouterr().out
    assert p.store.get(other.stats_id).round_of(1).triggered_run_id == f"{other.stats_id}-r1"
    assert len(p.store.find()) == 2


def test_a_run_that_did_not_start_starts_when_submitted_again(p, capsys, monkeypatch):
    write_demo_request(p.storage)
    working = airflow_api.AirflowAPI.trigger

    def down(self, dag_id, run_id, conf, logical_date=None):
        raise airflow_api.AirflowAPIError("cannot reach Airflow")

    monkeypatch.setattr(airflow_api.AirflowAPI, "trigger", down)
    assert cli.main(submit("--folder", DEMO_FOLDER)) == 2
    [ticket] = p.store.find()
    err = capsys.readouterr().err
    assert f"{ticket.stats_id} registered but its run did not start" in err
    assert "Run the same command again" in err
    assert any(e.action == "run_not_started" for e in p.store.audit(ticket.stats_id))
    monkeypatch.setattr(airflow_api.AirflowAPI, "trigger", working)
    assert cli.main(submit("--folder", DEMO_FOLDER)) == 0
    assert "request submitted" in capsys.readouterr().out
    assert p.triggered == [("output_request", f"{ticket.stats_id}-r1")]
    assert [t.stats_id for t in p.store.find()] == [ticket.stats_id]


def test_an_unknown_project_is_refused(p, capsys):
    write_demo_request(p.storage)
    err = refused(p, capsys, submit("--folder", DEMO_FOLDER, project="7654321"))
    assert "project '7654321' is not registered" in err and "srs registry show" in err


def test_an_unknown_destination_project_is_refused(p, capsys):
    argv = submit(
        "--source-area", "Working", "--folder", DEMO_FOLDER, "--destination", "999999",
        kind="transfer",
    )  # fmt: skip
    err = refused(p, capsys, argv)
    assert "destination project '999999' is not registered" in err


def test_a_missing_folder_is_refused(p, capsys):
    err = refused(p, capsys, submit("--folder", "2026_11_20_NotThere_v1"))
    assert "there is no folder '2026_11_20_NotThere_v1'" in err
    assert f"project {DEMO_PROJECT}'s Ready for Checking area" in err


def test_a_missing_ingest_folder_names_the_ingest_area(p, capsys):
    err = refused(p, capsys, submit("--folder", "2026_11_20_NotThere_v1", kind="ingest"))
    assert f"project {DEMO_PROJECT}'s ingest area" in err


@pytest.mark.parametrize(
    "folder",
    [
        f"../Working/{DEMO_FOLDER}",
        "..",
        f"/srv/projects/{DEMO_PROJECT}/Working/{DEMO_FOLDER}",
        f"{DEMO_FOLDER}/sub",
    ],
)
def test_a_path_outside_ready_for_checking_is_refused(p, capsys, folder):
    # The same folder exists in Working: a path that reaches it must still be refused.
    write_demo_request(p.storage)
    working = Path(p.settings.storage_root) / "projects" / DEMO_PROJECT / "Working" / DEMO_FOLDER
    working.mkdir(parents=True)
    (working / "table.csv").write_text("a,n\nx,12\n")
    err = refused(p, capsys, submit("--folder", folder))
    assert f"--folder {folder!r} is not a folder directly inside" in err
    assert "Ready for Checking area" in err and "give its name only" in err


def test_a_symlinked_folder_is_refused(p, capsys, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.csv").write_text("id\n1\n")
    os.symlink(outside, ready_root(p) / "2026_11_30_Link_v1", target_is_directory=True)
    err = refused(p, capsys, submit("--folder", "2026_11_30_Link_v1"))
    assert "'2026_11_30_Link_v1'" in err and "symbolic link" in err and "no links" in err


def test_a_folder_holding_a_link_is_refused(p, capsys, tmp_path):
    write_demo_request(p.storage)
    (tmp_path / "secret.csv").write_text("id\n1\n")
    os.symlink(tmp_path / "secret.csv", ready_root(p) / DEMO_FOLDER / "more.csv")
    err = refused(p, capsys, submit("--folder", DEMO_FOLDER))
    assert "more.csv" in err and "symbolic link" in err


def test_a_folder_holding_a_hard_link_is_refused(p, capsys, tmp_path):
    write_demo_request(p.storage)
    (tmp_path / "secret.csv").write_text("id\n1\n")
    os.link(tmp_path / "secret.csv", ready_root(p) / DEMO_FOLDER / "more.csv")
    err = refused(p, capsys, submit("--folder", DEMO_FOLDER))
    assert "more.csv" in err and "is a hard link" in err


def test_resubmit_starts_the_next_round_once_and_records_its_trigger(p, capsys, monkeypatch):
    """`srs resubmit` starts <STATS-ID>-r2 from the revised folder and records the trigger in
    the audit trail (the round begins when its intake takes the folder); again, Airflow's 409
    is 'already submitted', and nothing is recorded twice."""
    from include.airflow_api import RunExists
    from include.states import TicketState as S

    write_demo_request(p.storage)
    assert cli.main(submit("--folder", DEMO_FOLDER)) == 0
    [ticket] = p.store.find()
    p.store.transition(ticket.stats_id, S.CHECKING, actor="t")
    p.store.transition(ticket.stats_id, S.AWAITING_OFFICERS, actor="t")
    p.store.transition(ticket.stats_id, S.REVISIONS_REQUESTED, actor="t")
    capsys.readouterr()
    v2 = DEMO_FOLDER.replace("_v1", "_v2")
    assert cli.main(["resubmit", ticket.stats_id, "--folder", v2]) == 0
    assert "round 2 submitted" in capsys.readouterr().out
    assert p.triggered[-1] == ("output_request", f"{ticket.stats_id}-r2")

    def exists(self, dag_id, run_id, conf, logical_date=None):
        p.triggered.append((dag_id, run_id))
        raise RunExists(dag_id, run_id)

    monkeypatch.setattr(airflow_api.AirflowAPI, "trigger", exists)
    assert cli.main(["resubmit", ticket.stats_id, "--folder", v2]) == 0
    assert "round 2 already submitted" in capsys.readouterr().out
    triggers = [
        e
        for e in p.store.audit(ticket.stats_id)
        if e.action == "run_triggered" and e.details.get("run_id") == f"{ticket.stats_id}-r2"
    ]
    assert len(triggers) == 1 and triggers[0].details.get("folder") == v2
