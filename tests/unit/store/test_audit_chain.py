"""A tamper-evident audit: plain SQL that changes the record is noticed by verify_chain."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from include.audit_chain import event_hash
from include.db import get_engine
from include.tickets import TicketStore
from tests.unit.store.helpers import drop_guard, new_ticket, with_history


def _sql(url: str, sql: str, **params) -> None:
    with get_engine(url).begin() as conn:
        conn.execute(text(sql), params)


def _ticket_id(url: str, stats_id: str) -> int:
    with get_engine(url).connect() as conn:
        return conn.execute(
            text("SELECT id FROM tickets WHERE stats_id = :s"), {"s": stats_id}
        ).scalar_one()


def _event_id(url: str, stats_id: str, seq: int) -> int:
    with get_engine(url).connect() as conn:
        return conn.execute(
            text("SELECT id FROM audit_events WHERE ticket_id = :t AND seq = :q"),
            {"t": _ticket_id(url, stats_id), "q": seq},
        ).scalar_one()


@pytest.fixture
def story(database_url):
    store = TicketStore(database_url)
    t = with_history(store)
    bystander = with_history(store)
    report = store.verify_chain(t.stats_id)
    assert report.ok and report.events == len(store.audit(t.stats_id)) == 7
    return store, t, bystander


def test_an_intact_chain_verifies_with_its_head(story):
    store, t, bystander = story
    reports = store.verify_all()
    assert [r.ok for r in reports] == [True, True]
    assert reports[0].head == store.audit(t.stats_id)[-1].hash
    assert "ok" in reports[0].describe()


@pytest.mark.parametrize("table", ["audit_events", "decisions", "decision_files", "round_files"])
def test_the_triggers_refuse_a_plain_update_or_delete(story, database_url, table):
    for sql in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
        with pytest.raises(Exception, match="append-only"):
            _sql(database_url, sql)


def test_a_ticket_cannot_be_deleted(story, database_url):
    store, t, _ = story
    with pytest.raises(Exception, match="never deleted"):
        _sql(database_url, "DELETE FROM tickets WHERE stats_id = :s", s=t.stats_id)
    # Nor with the trigger gone: its audit rows hold it (foreign key, ON DELETE RESTRICT).
    with get_engine(database_url).begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER tickets_no_delete")
        else:
            conn.exec_driver_sql("DROP TRIGGER tickets_no_delete ON tickets")
    with pytest.raises(Exception, match="(?i)foreign key"):
        _sql(database_url, "DELETE FROM tickets WHERE stats_id = :s", s=t.stats_id)
    assert store.get(t.stats_id).stats_id == t.stats_id


def test_an_updated_event_is_named(story, database_url):
    store, t, bystander = story
    drop_guard(get_engine(database_url), "audit_events")
    target = _event_id(database_url, t.stats_id, 3)
    _sql(database_url, "UPDATE audit_events SET actor = 'forger' WHERE id = :i", i=target)
    report = store.verify_chain(t.stats_id)
    assert (report.ok, report.problem, report.bad_seq, report.bad_event_id) == (
        False,
        "altered",
        3,
        target,
    )
    assert store.verify_chain(bystander.stats_id).ok  # another ticket's chain is its own


def test_an_inserted_event_is_named_even_with_a_well_formed_hash(story, database_url):
    store, t, _ = story
    last = store.audit(t.stats_id)[-1]
    from datetime import UTC, datetime

    at = datetime(2026, 12, 3, 12, tzinfo=UTC)
    forged = event_hash(
        stats_id=t.stats_id,
        seq=last.seq + 1,
        action="decision",
        actor="forger",
        at=at,
        from_state=None,
        to_state=None,
        details={},
        prev_hash=last.hash,
    )
    _sql(
        database_url,
        "INSERT INTO audit_events (ticket_id, at, actor, action, details, seq, prev_hash, hash) "
        "VALUES (:t, :at, 'forger', 'decision', '{}', :q, :p, :h)",
        t=_ticket_id(database_url, t.stats_id),
        at=at.replace(tzinfo=None) if get_engine(database_url).dialect.name == "sqlite" else at,
        q=last.seq + 1,
        p=last.hash,
        h=forged,
    )
    report = store.verify_chain(t.stats_id)
    assert (report.ok, report.problem) == (False, "inserted")
    # A forged event with a made-up link in place of one removed is named too.
    drop_guard(get_engine(database_url), "audit_events")
    _sql(database_url, "DELETE FROM audit_events WHERE actor = 'forger'")
    victim = _event_id(database_url, t.stats_id, 4)
    _sql(database_url, "UPDATE audit_events SET prev_hash = :p WHERE id = :i", p="f" * 64, i=victim)
    report = store.verify_chain(t.stats_id)
    assert (report.problem, report.bad_seq) == ("inserted", 4)


def test_a_deleted_event_is_named(story, database_url):
    store, t, _ = story
    drop_guard(get_engine(database_url), "audit_events")
    _sql(
        database_url,
        "DELETE FROM audit_events WHERE id = :i",
        i=_event_id(database_url, t.stats_id, 2),
    )
    report = store.verify_chain(t.stats_id)
    assert (report.ok, report.problem, report.bad_seq) == (False, "removed", 3)
    assert "#2" in report.detail


def test_the_last_event_deleted_is_named(story, database_url):
    store, t, _ = story
    drop_guard(get_engine(database_url), "audit_events")
    _sql(
        database_url,
        "DELETE FROM audit_events WHERE id = :i",
        i=_event_id(database_url, t.stats_id, 7),
    )
    report = store.verify_chain(t.stats_id)
    assert (report.ok, report.problem) == (False, "removed")
    assert "#7" in report.detail


def test_an_altered_decision_is_named(story, database_url):
    store, t, _ = story
    drop_guard(get_engine(database_url), "decisions")
    _sql(database_url, "UPDATE decisions SET outcome = 'Request revisions'")
    report = store.verify_chain(t.stats_id)
    assert (report.ok, report.problem) == (False, "decision altered")
    assert "officer_1" in report.detail


def test_an_altered_decision_file_is_named(story, database_url):
    store, t, _ = story
    drop_guard(get_engine(database_url), "decision_files")
    _sql(database_url, "UPDATE decision_files SET text = 'anything goes'")
    assert store.verify_chain(t.stats_id).problem == "decision altered"


def test_an_inserted_decision_is_named(story, database_url):
    store, t, _ = story
    _sql(
        database_url,
        "INSERT INTO decisions (ticket_id, round, step, role, actor, outcome, guidance, "
        "exemption, at) VALUES (:t, 1, 'officer_2', 'officer', 'forger', 'Pass', '', '', :at)",
        t=_ticket_id(database_url, t.stats_id),
        at="2026-12-03 12:00:00",
    )
    report = store.verify_chain(t.stats_id)
    assert (report.problem, "no event recorded it" in report.detail) == ("decision altered", True)


def test_an_altered_manifest_is_named(story, database_url):
    store, t, _ = story
    drop_guard(get_engine(database_url), "round_files")
    _sql(
        database_url,
        "UPDATE round_files SET sha256 = :h WHERE path = 'table.csv' AND round_id IN "
        "(SELECT r.id FROM rounds r JOIN tickets t ON t.id = r.ticket_id WHERE t.stats_id = :s)",
        h="c" * 64,
        s=t.stats_id,
    )
    report = store.verify_chain(t.stats_id)
    assert (report.ok, report.problem) == (False, "manifest altered")
    assert report.bad_seq == 3  # the event that recorded the snapshot


def test_an_added_manifest_entry_is_named(story, database_url):
    store, t, _ = story
    _sql(
        database_url,
        "INSERT INTO round_files (round_id, path, sha256, size) SELECT r.id, 'extra.csv', :h, 1 "
        "FROM rounds r JOIN tickets t ON t.id = r.ticket_id WHERE t.stats_id = :s",
        h="d" * 64,
        s=t.stats_id,
    )
    assert store.verify_chain(t.stats_id).problem == "manifest altered"


def test_a_changed_state_is_named(story, database_url):
    store, t, _ = story
    _sql(database_url, "UPDATE tickets SET state = 'releasing' WHERE stats_id = :s", s=t.stats_id)
    report = store.verify_chain(t.stats_id)
    assert (report.ok, report.problem) == (False, "state altered")
    assert "'releasing'" in report.detail and "'awaiting_officers'" in report.detail


def test_changed_round_facts_are_named(story, database_url):
    store, t, _ = story
    _sql(database_url, "UPDATE rounds SET check_verdict = 'pass'")
    assert store.verify_chain(t.stats_id).problem == "round altered"


def test_a_deleted_ticket_is_named(story, database_url):
    store, t, bystander = story
    ticket_id = _ticket_id(database_url, t.stats_id)
    engine = get_engine(database_url)
    if engine.dialect.name == "sqlite":  # a connection of its own, foreign keys off (the default)
        conn = sqlite3.connect(database_url.split("///", 1)[1])
        for sql in (
            "DROP TRIGGER tickets_no_delete",
            "DROP TRIGGER decisions_no_delete",
            "DROP TRIGGER decision_files_no_delete",
            "DROP TRIGGER round_files_no_delete",
        ):
            conn.execute(sql)
        conn.execute(
            "DELETE FROM decision_files WHERE decision_id IN "
            "(SELECT id FROM decisions WHERE ticket_id = ?)",
            (ticket_id,),
        )
        conn.execute("DELETE FROM decisions WHERE ticket_id = ?", (ticket_id,))
        conn.execute(
            "DELETE FROM round_files WHERE round_id IN (SELECT id FROM rounds WHERE ticket_id = ?)",
            (ticket_id,),
        )
        conn.execute("DELETE FROM rounds WHERE ticket_id = ?", (ticket_id,))
        conn.execute("DELETE FROM tickets WHERE id = ?", (ticket_id,))
        conn.commit()
        conn.close()
    else:  # the owner switching off triggers and foreign-key checks for the session
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            conn.execute(text("DELETE FROM tickets WHERE id = :i"), {"i": ticket_id})
    reports = store.verify_all()
    assert [r.ok for r in reports] == [True, False]
    assert reports[0].stats_id == bystander.stats_id
    assert reports[1].problem == "ticket deleted" and f"ticket row {ticket_id}" in reports[1].detail


def test_srs_audit_verify(story, database_url, monkeypatch, capsys):
    from include.cli import main
    from include.settings import reset_settings

    store, t, bystander = story
    monkeypatch.setenv("SRS_DATABASE_URL", database_url)
    reset_settings()
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert f"{t.stats_id}  ok  7 events  head {store.verify_chain(t.stats_id).head}" in out
    assert bystander.stats_id in out
    assert main(["audit", "verify", t.stats_id]) == 0
    drop_guard(get_engine(database_url), "audit_events")
    target = _event_id(database_url, t.stats_id, 5)
    _sql(database_url, "UPDATE audit_events SET details = '{}' WHERE id = :i", i=target)
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"{t.stats_id} BROKEN: altered event #5 (row id {target})" in out
    assert f"{bystander.stats_id}  ok" in out
    assert main(["audit", "verify", "STATS99999"]) == 2


def test_a_new_ticket_chain_starts_at_genesis(database_url):
    store = TicketStore(database_url)
    t = new_ticket(store)
    (created,) = store.audit(t.stats_id)
    assert created.seq == 1 and len(created.hash) == 64
