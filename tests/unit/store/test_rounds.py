"""Rounds as rows of their own, read and written through typed objects."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from include.db import get_engine
from include.states import OPEN_STATES
from include.states import TicketState as S
from include.ticket_tables import OPEN_FOLDER_STATES
from include.tickets import CheckSummary, TicketError, TicketStore
from tests.unit.store.helpers import MANIFEST, new_ticket, with_history


def test_create_and_start_round_make_round_rows(database_url):
    store = TicketStore(database_url)
    t = new_ticket(store, folder="2026_12_03_Energy_v1")
    assert [r.number for r in t.rounds] == [1]
    assert t.current_round.folder == "2026_12_03_Energy_v1"
    assert t.current_round.folder_version == 1
    store.transition(t.stats_id, S.CHECKING, actor="p")
    store.transition(t.stats_id, S.REVISIONS_REQUESTED, actor="p")
    t2 = store.start_round(t.stats_id, folder="2026_12_03_Energy_v2", actor="r_rahman")
    assert [(r.number, r.folder, r.folder_version) for r in t2.rounds] == [
        (1, "2026_12_03_Energy_v1", 1),
        (2, "2026_12_03_Energy_v2", 2),
    ]
    assert t2.current_round.number == 2 and store.round(t.stats_id, 1).folder.endswith("_v1")
    assert t2.folders_used() == {"2026_12_03_Energy_v1", "2026_12_03_Energy_v2"}


def test_typed_writers_record_each_fact_with_an_audit_event(database_url):
    store = TicketStore(database_url)
    t = with_history(store)
    r = t.current_round
    assert r.run_id == f"{t.stats_id}-r1"
    assert r.snapshot.place.endswith(t.folder) and r.snapshot.manifest == MANIFEST
    assert r.checks.verdict == "review" and r.checks.counts["by_severity"]["review"] == 1
    assert r.checks.report_place == f"1234567/Output/{t.stats_id}" and r.checks.at is not None
    assert r.checks.to_bag()["files"] == [{"path": "table.csv", "role": "output", "type": "csv"}]
    actions = [e.action for e in store.audit(t.stats_id)]
    for action in ("run_recorded", "snapshot_recorded", "checks_recorded", "decision"):
        assert action in actions
    snap = next(e for e in store.audit(t.stats_id) if e.action == "snapshot_recorded")
    assert snap.details["files"] == 2 and len(snap.details["digest"]) == 64


def test_set_once_facts_refuse_a_different_value_and_ignore_the_same(database_url):
    store = TicketStore(database_url)
    t = with_history(store)
    events = len(store.audit(t.stats_id))
    store.record_run(t.stats_id, 1, f"{t.stats_id}-r1")  # a retried task: nothing new
    store.record_snapshot(t.stats_id, 1, t.current_round.snapshot.place, MANIFEST)
    assert len(store.audit(t.stats_id)) == events
    with pytest.raises(TicketError, match="already has its run recorded"):
        store.record_run(t.stats_id, 1, "manual__other")
    with pytest.raises(TicketError, match="already has its snapshot recorded"):
        store.record_snapshot(t.stats_id, 1, "elsewhere", MANIFEST)
    with pytest.raises(TicketError, match="has no round 2"):
        store.record_run(t.stats_id, 2, "x")
    # Checks may be run again (a retried check of a received ticket): the new summary counts.
    store.record_checks(
        t.stats_id, 1, CheckSummary("fail", {"files": 2}), f"1234567/Output/{t.stats_id}"
    )
    assert store.round(t.stats_id, 1).checks.verdict == "fail"


def test_placement_is_recorded(database_url):
    store = TicketStore(database_url)
    t = new_ticket(store, kind="ingest")
    store.record_placement(t.stats_id, 1, "1234567/Input/x_v1", "1234567/Input/manifest.json")
    p = store.round(t.stats_id, 1).placement
    assert (p.place, p.manifest_place) == ("1234567/Input/x_v1", "1234567/Input/manifest.json")


@pytest.mark.parametrize(
    "key", ["run_r1", "run_started", "run_started_r2", "snapshot_r1", "checks_r3", "placed_r1"]
)
def test_set_fields_and_create_refuse_a_round_fact_in_the_details(database_url, key):
    """A round's facts live in its row: the free-form details never spell them again."""
    store = TicketStore(database_url)
    t = new_ticket(store)
    events = len(store.audit(t.stats_id))
    with pytest.raises(TicketError, match=rf"\['{key}'\] name a round's fact.*record_"):
        store.set_fields(t.stats_id, actor="p", action="x", details={key: "v", "note": 1})
    with pytest.raises(TicketError, match="name a round's fact"):
        new_ticket(store, details={key: "v"})
    after = store.get(t.stats_id)
    assert "note" not in after.details and len(store.audit(t.stats_id)) == events
    # Free-form keys that merely look alike are still details.
    store.set_fields(t.stats_id, actor="p", action="x", details={"run_rx": 1, "checks": 2})
    assert store.get(t.stats_id).details == {"run_rx": 1, "checks": 2}


def test_a_trigger_before_its_round_begins_joins_the_round_when_it_starts(database_url):
    """The sweep starts a revised folder's run before that run's intake begins the round."""
    store = TicketStore(database_url)
    t = new_ticket(store, folder="2026_12_03_Late_v1")
    assert store.record_trigger(t.stats_id, 1, f"{t.stats_id}-r1").triggered_run_id == (
        f"{t.stats_id}-r1"
    )
    store.transition(t.stats_id, S.CHECKING, actor="p")
    store.transition(t.stats_id, S.REVISIONS_REQUESTED, actor="p")
    v2 = "2026_12_03_Late_v2"
    assert store.record_trigger(t.stats_id, 2, f"{t.stats_id}-r2", folder=v2) is None
    store.record_trigger(t.stats_id, 2, f"{t.stats_id}-r2", folder=v2)  # a later sweep: nothing
    triggered = [e for e in store.audit(t.stats_id) if e.action == "run_triggered"]
    assert [(e.details["round"], e.details.get("folder")) for e in triggered] == [
        (1, None),
        (2, v2),
    ]
    assert store.get(t.stats_id).round_of(2) is None and store.verify_chain(t.stats_id).ok
    with pytest.raises(TicketError, match="has no round 3"):
        store.record_trigger(t.stats_id, 3, f"{t.stats_id}-r3")  # only the next round waits
    r2 = store.start_round(t.stats_id, folder=v2, actor="r_rahman").current_round
    assert (r2.number, r2.triggered_run_id, r2.run_id) == (2, f"{t.stats_id}-r2", None)
    assert store.verify_chain(t.stats_id).ok


def test_a_round_run_is_found_by_its_run_id(database_url):
    store = TicketStore(database_url)
    t = new_ticket(store)
    store.record_run(t.stats_id, 1, "manual__2026-12-03T10:00:00")
    assert store.round_of_run("manual__2026-12-03T10:00:00") == (t.stats_id, 1)
    assert store.round_of_run("manual__2026-12-03T10:00:00", kind="ingest") is None
    assert store.round_of_run("manual__other") is None


def test_decisions_are_linked_to_their_round(database_url):
    store = TicketStore(database_url)
    t = with_history(store)
    with get_engine(database_url).connect() as conn:
        linked = (
            conn.execute(
                text(
                    "SELECT r.number FROM decisions d JOIN rounds r ON r.id = d.round_id "
                    "JOIN tickets t ON t.id = d.ticket_id WHERE t.stats_id = :s"
                ),
                {"s": t.stats_id},
            )
            .scalars()
            .all()
        )
    assert linked == [1]


def test_open_folder_index_covers_exactly_the_open_states():
    assert set(OPEN_FOLDER_STATES) == {s.value for s in OPEN_STATES}


def test_a_ticket_run_id_is_the_run_its_round_recorded(database_url):
    """A run started from Airflow's trigger form is ``manual__…``: links, closure and reopen
    must name that run, not ``<STATS-ID>-r<n>``."""
    store = TicketStore(database_url)
    t = new_ticket(store)
    assert t.run_id == f"{t.stats_id}-r1"  # nothing recorded yet: the run it is started as
    store.record_run(t.stats_id, 1, "manual__2026-12-03T10:00:00+00:00")
    assert store.get(t.stats_id).run_id == "manual__2026-12-03T10:00:00+00:00"
    store.transition(t.stats_id, S.CHECKING, actor="p")
    store.transition(t.stats_id, S.REVISIONS_REQUESTED, actor="p")
    t2 = store.start_round(t.stats_id, folder=t.folder[:-1] + "2", actor="r_rahman")
    assert t2.run_id == f"{t.stats_id}-r2"


def test_the_archived_ticket_keeps_each_round_with_its_manifest(database_url):
    """The archive's ticket.json is the ticket as JSON: its rounds' facts, manifests whole."""
    from include.pipeline import _jsonable

    store = TicketStore(database_url)
    t = with_history(store)
    archived = json.loads(json.dumps(t, default=_jsonable))
    [r1] = archived["rounds"]
    assert r1["run_id"] == f"{t.stats_id}-r1" and r1["checks"]["verdict"] == "review"
    assert r1["snapshot"]["manifest"] == MANIFEST.to_dict()
