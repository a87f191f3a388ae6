"""Alembic owns the ticket store's schema: empty databases, the previous release's, the models."""

from __future__ import annotations

import json
import multiprocessing

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import include.ledger_tables  # noqa: F401
import include.registry  # noqa: F401  (every table on Base)
import include.sweeps  # noqa: F401
from include.db import Base, _create, current_revision, dispose_engines, get_engine, upgrade
from include.store_migrations import alembic_config
from include.tickets import TicketStore
from tests.unit.store.helpers import MANIFEST

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
TABLES = {
    "tickets",
    "rounds",
    "round_files",
    "audit_events",
    "decisions",
    "decision_files",
    "sent_emails",
    "sweep_notices",
    "people",
    "datasets",
    "dataset_owners",
    "projects",
    "project_researchers",
    "project_datasets",
    "released_tables",
}


@pytest.fixture
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("postgres_url")


both = pytest.mark.parametrize("empty_url", ["sqlite", "postgres"], indirect=True)


@both
def test_an_empty_database_is_upgraded_to_head(empty_url):
    assert current_revision(empty_url) is None
    assert upgrade(empty_url) == HEAD
    assert current_revision(empty_url) == HEAD
    with get_engine(empty_url).connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) >= TABLES
    assert upgrade(empty_url) == HEAD  # again: nothing to do


@both
def test_the_models_match_the_migrated_schema(empty_url):
    upgrade(empty_url)
    with get_engine(empty_url).connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == []


def _get_engine_in_a_process(url: str, queue) -> None:
    get_engine(url)
    queue.put(current_revision(url))


@both
def test_processes_starting_together_migrate_once(empty_url):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_get_engine_in_a_process, args=(empty_url, queue)) for _ in range(4)
    ]
    for p in procs:
        p.start()
    revisions = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert revisions == [HEAD] * 4


# --- a database the previous release made --------------------------------------------------

STORED_T0 = "2026-11-02 09:00:00.000000"  # as the old ORM wrote a UTC time (SQLite keeps no zone)


def _previous_release_database(url: str, *, stamped: bool) -> None:
    """The schema revision 0001 makes is the one ``create_all`` made in the release before
    migrations (git 4334431); without ``alembic_version`` it is exactly such a database."""
    engine = _create(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        if not stamped:
            conn.execute(sa.text("DROP TABLE alembic_version"))
        _old_tickets(conn)
    engine.dispose()


def _old_tickets(conn) -> None:
    """Two tickets as the old code wrote them: facts in the ``details`` bag, audit without hashes."""
    snapshot = {
        "folder": "2026_11_02_Energy_v1",
        "place": "1234567/Output/STATS00001/2026_11_02_Energy_v1",
        "manifest": MANIFEST.to_dict(),
    }
    checks = {
        "verdict": "fail",
        "summary": {"files": 2, "by_severity": {"block": 1, "review": 0, "info": 0}},
        "blocking": [{"rule": "small_cell", "severity": "block", "where": "table.csv"}],
        "files": [{"path": "table.csv", "role": "output", "type": "csv"}],
        "direct_identifiers": 0,
    }
    snapshot2 = {**snapshot, "folder": "2026_11_02_Energy_v2"}
    snapshot2["place"] = "1234567/Output/STATS00001/2026_11_02_Energy_v2"
    details = {
        "run_started": "STATS00001-r1",
        "run_r1": "STATS00001-r1",
        "snapshot_r1": snapshot,
        "checks_r1": checks,
        "folders": ["2026_11_02_Energy_v1", "2026_11_02_Energy_v2"],
        "run_r2": "STATS00001-r2",
        "snapshot_r2": snapshot2,
    }
    placed = {
        "place": "4567890/Input/in_v1",
        "manifest": "4567890/Input/manifest.json",
        "files": ["notes/readme.txt", "table.csv"],
        "verified": True,
    }
    tickets = [
        (1, "STATS00001", "output", "2026_11_02_Energy_v2", 2, "checking", details),
        (2, "STATS00002", "ingest", "in_v1", 1, "placed", {"placed_r1": placed}),
    ]
    for id_, sid, kind, folder, rnd, state, bag in tickets:
        conn.execute(
            sa.text(
                "INSERT INTO tickets (id, stats_id, kind, project, requester, folder, round, "
                "state, received_at, queued_at, updated_at, assigned_officers, details, version) "
                "VALUES (:id, :sid, :kind, '1234567', 'r_rahman', :folder, :rnd, :state, :t, :t, "
                ":t, '[]', :bag, 7)"
            ),
            {"id": id_, "sid": sid, "kind": kind, "folder": folder, "rnd": rnd, "state": state,
             "t": STORED_T0, "bag": json.dumps(bag)},
        )  # fmt: skip
    events = [
        (1, "created", None, "received", {"kind": "output", "folder": "2026_11_02_Energy_v1"}),
        (1, "run_started", None, None, {"run_started": "STATS00001-r1"}),
        (1, "officers_assigned", None, None, {"run_r1": "STATS00001-r1"}),
        (1, "snapshot_taken", None, None, {"snapshot_r1": snapshot}),
        (1, "state_changed", "received", "checking", {}),
        (1, "checks_completed", None, None, {"checks_r1": checks}),
        (1, "state_changed", "checking", "revisions_requested", {}),
        (1, "resubmitted", "revisions_requested", "checking",
         {"round": 2, "folder": "2026_11_02_Energy_v2"}),
        (1, "round_started", None, None, {"run_r2": "STATS00001-r2"}),
        (1, "snapshot_taken", None, None, {"snapshot_r2": snapshot2}),
        (2, "created", None, "received", {"kind": "ingest", "folder": "in_v1"}),
        (2, "state_changed", "received", "placed", {}),
        (2, "placed_and_verified", None, None, {"placed_r1": placed}),
        (1, "decision", None, None, {"round": 1, "step": "officer_1", "role": "officer",
         "outcome": "Request revisions", "guidance": "Round it.", "exemption": "",
         "files": [["table.csv", "round to 10"]]}),
    ]  # fmt: skip
    for ticket_id, action, before, after, d in events:
        conn.execute(
            sa.text(
                "INSERT INTO audit_events (ticket_id, at, actor, action, from_state, to_state, "
                "details) VALUES (:tid, :at, 'pipeline', :action, :f, :t, :d)"
            ),
            {"tid": ticket_id, "at": STORED_T0, "action": action, "f": before, "t": after,
             "d": json.dumps(d)},
        )  # fmt: skip
    conn.execute(
        sa.text(
            "INSERT INTO decisions (id, ticket_id, round, step, role, actor, outcome, guidance, "
            "exemption, at) VALUES (1, 1, 1, 'officer_1', 'officer', 'pipeline', "
            "'Request revisions', 'Round it.', '', :at)"
        ),
        {"at": STORED_T0},
    )
    conn.execute(
        sa.text(
            "INSERT INTO decision_files (decision_id, path, text) VALUES (1, 'table.csv', "
            "'round to 10')"
        )
    )


@pytest.mark.parametrize("stamped", [False, True], ids=["create_all-made", "at-0001"])
@both
def test_a_previous_release_database_is_upgraded_and_its_bag_facts_become_rounds(
    empty_url, stamped
):
    _previous_release_database(empty_url, stamped=stamped)
    assert current_revision(empty_url) == ("0001" if stamped else None)
    store = TicketStore(empty_url)
    t = store.get("STATS00001")  # the first use upgrades it
    assert current_revision(empty_url) == HEAD
    r1, r2 = t.rounds
    assert (r1.number, r1.folder, r1.folder_version) == (1, "2026_11_02_Energy_v1", 1)
    assert (r2.number, r2.folder) == (2, "2026_11_02_Energy_v2")
    assert r1.run_id == "STATS00001-r1" and r1.triggered_run_id == "STATS00001-r1"
    assert r1.snapshot.manifest == MANIFEST and r1.snapshot.place.endswith("Energy_v1")
    assert r1.checks.verdict == "fail" and r1.checks.blocking[0]["rule"] == "small_cell"
    assert r1.checks.report_place == "1234567/Output/STATS00001"
    assert r2.run_id == "STATS00001-r2" and r2.snapshot.place.endswith("Energy_v2")
    assert r2.checks is None
    assert t.folders_used() == {"2026_11_02_Energy_v1", "2026_11_02_Energy_v2"}
    placed = store.round("STATS00002", 1).placement
    assert placed.place == "4567890/Input/in_v1"
    assert placed.manifest_place == "4567890/Input/manifest.json"
    assert store.decisions("STATS00001")[0].files == (("table.csv", "round to 10"),)
    # The old events were chained in the order written, and the chain covers the new rows.
    assert [e.seq for e in store.audit("STATS00001")] == list(range(1, 12))
    assert [r.ok for r in store.verify_all()] == [True, True], store.verify_all()
    # The migrated store goes on working: a new event extends the old chain.
    store.append_audit("STATS00001", actor="t", action="noted")
    assert store.verify_chain("STATS00001").ok and store.audit("STATS00001")[-1].seq == 12
    with get_engine(empty_url).connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == []
    dispose_engines()


@both
def test_duplicate_open_tickets_stop_the_upgrade_with_their_names(empty_url):
    engine = _create(empty_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        for id_ in (1, 2):
            conn.execute(
                sa.text(
                    "INSERT INTO tickets (id, stats_id, kind, project, requester, folder, round, "
                    "state, received_at, queued_at, updated_at, assigned_officers, details, "
                    "version) VALUES (:id, :sid, 'output', '1234567', 'r', 'twice_v1', 1, "
                    "'checking', :t, :t, :t, '[]', '{}', 1)"
                ),
                {"id": id_, "sid": f"STATS0000{id_}", "t": STORED_T0},
            )
    engine.dispose()
    with pytest.raises(RuntimeError, match="folder 'twice_v1': 2 open tickets"):
        upgrade(empty_url)
    assert current_revision(empty_url) == "0001"  # nothing half-done
