"""The release ledger in the output pipeline: a release records its tables, the archive keeps
them, and the next request's checks compare against them."""

from __future__ import annotations

import json

import pytest

from include import release_ledger
from include import request_steps as out
from include.demo import DEMO_FOLDER, DEMO_PROJECT, write_demo_request
from include.states import TicketState as S
from include.storage import Place


@pytest.fixture
def p(demo_pipeline):
    write_demo_request(demo_pipeline.storage)
    return demo_pipeline


def submit(p, folder=DEMO_FOLDER, run_id="manual__1"):
    result = out.intake(
        p,
        started_by="ops",
        project=DEMO_PROJECT,
        folder=folder,
        requester="r_rahman",
        run_id=run_id,
    )
    assert result.accepted, result.reasons
    return result.stats_id


def passes(ticket):
    return [
        out.Response("officer_1", ticket.assigned_officers[0], "Pass"),
        out.Response("officer_2", ticket.assigned_officers[1], "Pass"),
    ]


def to_signoff(p, folder=DEMO_FOLDER, run_id="manual__1"):
    stats_id = submit(p, folder, run_id)
    out.take_snapshot(p, stats_id)
    summary = out.run_checks(p, stats_id)
    return stats_id, summary


def released(p, folder=DEMO_FOLDER, run_id="manual__1") -> str:
    stats_id, _ = to_signoff(p, folder, run_id)
    t = p.store.get(stats_id)
    assert out.officers_decision(p, stats_id, passes(t)) == "release"
    out.release(p, stats_id)
    return stats_id


def test_a_release_records_its_output_tables_once(p):
    stats_id = released(p)
    rows = release_ledger.entries(p.store, stats_id=stats_id)
    # The output table only: the code is not a table, supporting notes and the form not released.
    assert [(e.file, e.sheet, e.round) for e in rows] == [("energy_by_tenure_region.csv", None, 1)]
    table = rows[0].profile
    assert table.source == stats_id and table.dimensions == ("region", "tenure")
    assert "n" in table.counts and len(table.cells) == 9
    out.release(p, stats_id)  # a retried release task
    assert len(release_ledger.entries(p.store, project=DEMO_PROJECT)) == 1


def test_a_release_that_died_before_its_ledger_is_recorded_on_retry(p, monkeypatch):
    real = release_ledger.record_release

    def dies(*_a, **_kw):
        raise ConnectionError("the database went away")

    monkeypatch.setattr(release_ledger, "record_release", dies)
    with pytest.raises(ConnectionError):
        released(p)
    (stats_id,) = [t.stats_id for t in p.store.find()]
    assert p.store.get(stats_id).state == S.RELEASED  # the email went; the ledger did not
    assert release_ledger.entries(p.store, stats_id=stats_id) == []
    monkeypatch.setattr(release_ledger, "record_release", real)
    assert out.release(p, stats_id)["already"]
    assert [e.file for e in release_ledger.entries(p.store, stats_id=stats_id)] == [
        "energy_by_tenure_region.csv"
    ]


def test_the_archive_keeps_the_tickets_ledger_rows(p):
    stats_id = released(p)
    out.archive(p, stats_id)
    where = p.archive_place(p.store.get(stats_id))
    kept = json.loads(p.storage.read_bytes(where, "ledger.json"))
    assert kept == release_ledger.ledger_json(p.store, stats_id)
    assert [(r["file"], r["round"]) for r in kept] == [("energy_by_tenure_region.csv", 1)]
    assert kept[0]["profile"]["dimensions"] == ["region", "tenure"]


def _second_request(p, folder: str, table: bytes) -> None:
    write_demo_request(p.storage, folder=folder)
    p.storage.write_bytes(
        Place(DEMO_PROJECT, "Ready for Checking", folder), "energy_by_tenure_region.csv", table
    )


def _demo_table(p) -> str:
    place = Place(DEMO_PROJECT, "Ready for Checking", DEMO_FOLDER)
    return p.storage.read_bytes(place, "energy_by_tenure_region.csv").decode()


def _rules(summary) -> list[str]:
    return [f["rule"] for f in summary["blocking"]]


# One household more in one cell: the difference (3) is a group below the threshold (10).
ONE_CELL_CHANGED = ("E12000001,Owner occupied,412,", "E12000001,Owner occupied,415,")


def test_a_second_request_differing_by_a_small_group_is_blocked_naming_the_first(p):
    first = released(p)
    second_folder = "2026_11_27_EnergyUseByTenureAgain_v1"
    _second_request(p, second_folder, _demo_table(p).replace(*ONE_CELL_CHANGED).encode())
    _, summary = to_signoff(p, second_folder, run_id="manual__2")
    found = [f for f in summary["blocking"] if f["rule"] == "differencing"]
    assert found, summary["blocking"]
    assert summary["verdict"] == "fail"
    related = found[0]["related"]
    assert related["source"] == first and related["file"] == "energy_by_tenure_region.csv"


@pytest.mark.parametrize(
    "change",
    [
        ("", ""),  # the same table again: nothing new is revealed
        (",412,", ",462,"),  # a difference of 50: not a small group
    ],
    ids=["identical", "differs-by-50"],
)
def test_a_second_request_with_safe_differences_is_not_flagged(p, change):
    released(p)
    second_folder = "2026_11_27_EnergyUseByTenureAgain_v1"
    table = _demo_table(p).replace(*change) if change[0] else _demo_table(p)
    _second_request(p, second_folder, table.encode())
    _, summary = to_signoff(p, second_folder, run_id="manual__2")
    assert "differencing" not in _rules(summary), summary["blocking"]


def test_the_request_page_lists_the_released_table_and_the_finding_side_by_side(p):
    srs_ui = pytest.importorskip("srs_ui.app", reason="the UI plugin needs Airflow's API server")
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    first = released(p)
    second_folder = "2026_11_27_EnergyUseByTenureAgain_v1"
    _second_request(p, second_folder, _demo_table(p).replace(*ONE_CELL_CHANGED).encode())
    second, _ = to_signoff(p, second_folder, run_id="manual__2")

    class Ops:  # an Airflow admin: operations, sees every request
        role = "admin"

        def get_name(self) -> str:
            return "ops_person"

    class NoHitl:
        def answered_tasks(self, dag_id: str, run_id: str) -> set[str]:
            return set()

    site = FastAPI()
    site.mount(srs_ui.URL_PREFIX, srs_ui.app)
    srs_ui.app.dependency_overrides[srs_ui.get_user] = Ops
    srs_ui.app.dependency_overrides[srs_ui.get_hitl] = NoHitl
    try:
        with TestClient(site) as c:
            page = c.get(f"/srs/requests/{second}").text
            first_page = c.get(f"/srs/requests/{first}").text
    finally:
        srs_ui.app.dependency_overrides.clear()
    section = page.split("sharing dimensions with this one", 1)[1].split("<h2>Decisions", 1)[0]
    shared = section.split("Cross-table findings", 1)[0]
    assert f"/srs/requests/{first}" in shared and "energy_by_tenure_region.csv" in shared
    assert '<span class="pill">region</span><span class="pill">tenure</span>' in shared
    cross = section.split("Cross-table findings", 1)[1]
    assert "differencing" in cross and "This request" in cross
    assert f"<th>{first}</th>" in cross  # the released table's column names its STATS-ID
    # The first request's page: the second is not released, so nothing shares its dimensions.
    first_section = first_page.split("sharing dimensions with this one", 1)[1]
    assert "No released table of project" in first_section.split("<h2>Decisions", 1)[0]
