import itertools
import multiprocessing
import os
import re

import pytest
from sqlalchemy import text

from include.db import get_engine
from include.states import (
    OPEN_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    IllegalTransition,
    TicketState,
    check_transition,
)
from include.tickets import AuditIsAppendOnly, StaleState, TicketError, TicketStore, UnknownTicket

S = TicketState
_folders = itertools.count(1)  # one open ticket per request folder: each test ticket its own


def _new(store: TicketStore, **kw):
    args = {
        "kind": "output",
        "project": "1234567",
        "requester": "r_rahman",
        "folder": f"2024_01_16_Energy{next(_folders)}_v1",
        "actor": "intake",
    }
    args.update(kw)
    return store.create(**args)


def test_stats_ids_are_sequential_unique_and_formatted(database_url):
    store = TicketStore(database_url)
    ids = [_new(store).stats_id for _ in range(3)]
    assert all(re.fullmatch(r"STATS\d{5}", i) for i in ids)
    assert len(set(ids)) == 3
    assert ids == sorted(ids)


def _create_many(url: str, n: int, queue) -> None:
    store = TicketStore(url)
    queue.put([_new(store, folder=f"f{os.getpid()}_{i}").stats_id for i in range(n)])


def test_stats_ids_unique_across_concurrent_processes(database_url):
    get_engine(database_url)  # tables exist before the workers race
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_create_many, args=(database_url, 15, queue)) for _ in range(6)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    ids = [i for batch in results for i in batch]
    assert len(ids) == 90
    assert len(set(ids)) == 90


def test_stats_id_never_reused_after_a_row_is_gone(tmp_path):
    url = f"sqlite:///{tmp_path / 't.db'}"
    store = TicketStore(url)
    _new(store)
    with get_engine(url).begin() as conn:  # a row that vanished (not possible through the API,
        # nor through SQL while the trigger stands)
        conn.execute(text("DROP TRIGGER tickets_no_delete"))
        conn.execute(
            text(
                "INSERT INTO tickets (id, stats_id, kind, project, requester, folder, round, state, "
                "received_at, queued_at, updated_at, assigned_officers, details, version) VALUES "
                "(500, 'STATS00500', 'output', '1', 'r', 'f', 1, 'received', '2026-01-01', '2026-01-01', "
                "'2026-01-01', '[]', '{}', 1)"
            )
        )
        conn.execute(text("DELETE FROM tickets WHERE id = 500"))
    assert _new(store).stats_id == "STATS00501"


def test_happy_path_transitions_append_audit_events(database_url):
    store = TicketStore(database_url)
    t = _new(store)
    for target in (S.CHECKING, S.AWAITING_OFFICERS, S.RELEASING, S.RELEASED, S.ARCHIVED):
        t = store.transition(t.stats_id, target, actor="pipeline")
        assert t.state == target
    events = store.audit(t.stats_id)
    assert [e.action for e in events] == ["created"] + ["state_changed"] * 5
    assert events[-1].from_state == "released" and events[-1].to_state == "archived"
    assert all(e.actor for e in events) and all(e.at.tzinfo for e in events)


def test_illegal_transition_is_refused_with_clear_error(database_url):
    store = TicketStore(database_url)
    t = _new(store)
    with pytest.raises(IllegalTransition, match="'received' cannot move to 'released'"):
        store.transition(t.stats_id, S.RELEASED, actor="x")
    assert store.get(t.stats_id).state == S.RECEIVED
    assert len(store.audit(t.stats_id)) == 1


def test_compare_and_set_refuses_stale_expectation(database_url):
    store = TicketStore(database_url)
    t = _new(store)
    store.transition(t.stats_id, S.CHECKING, actor="a")
    with pytest.raises(StaleState, match="is in state 'checking', not received"):
        store.transition(t.stats_id, S.REJECTED, actor="b", expected=S.RECEIVED)


def test_repeating_a_transition_is_a_noop(database_url):
    store = TicketStore(database_url)
    t = _new(store)
    store.transition(t.stats_id, S.CHECKING, actor="a")
    store.transition(t.stats_id, S.CHECKING, actor="a")  # a retried task
    assert [e.action for e in store.audit(t.stats_id)].count("state_changed") == 1


def test_audit_events_cannot_be_updated_or_deleted(database_url):
    from include.db import session_scope
    from include.tickets import AuditEventRow

    store = TicketStore(database_url)
    t = _new(store)
    with pytest.raises(AuditIsAppendOnly), session_scope(database_url) as s:
        row = s.query(AuditEventRow).first()
        row.actor = "forger"
    with pytest.raises(AuditIsAppendOnly), session_scope(database_url) as s:
        s.delete(s.query(AuditEventRow).first())
    # Not even raw SQL gets through: the database refuses it.
    with pytest.raises(Exception, match="append-only"), get_engine(database_url).begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'forger'"))
    with pytest.raises(Exception, match="append-only"), get_engine(database_url).begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))
    assert store.audit(t.stats_id)[0].actor == "intake"


def test_resubmission_starts_next_round_at_back_of_queue(database_url):
    store = TicketStore(database_url)
    a = _new(store)
    b = _new(store, folder="other_v1")
    store.transition(a.stats_id, S.CHECKING, actor="p")
    store.transition(a.stats_id, S.REVISIONS_REQUESTED, actor="p")
    assert [t.stats_id for t in store.find(states=OPEN_STATES)] == [a.stats_id, b.stats_id]
    a2 = store.start_round(a.stats_id, folder="2024_01_16_Energy_v2", actor="r_rahman")
    assert a2.round == 2 and a2.state == S.CHECKING and a2.run_id == f"{a.stats_id}-r2"
    assert a2.folder.endswith("_v2")
    assert [t.stats_id for t in store.find(states=OPEN_STATES)] == [b.stats_id, a.stats_id]
    with pytest.raises(StaleState, match="only a ticket whose revisions were requested"):
        store.start_round(a.stats_id, folder="x_v3", actor="r_rahman")


def test_decisions_recorded_once_and_listed(database_url):
    store = TicketStore(database_url)
    t = _new(store)
    store.record_decision(
        t.stats_id, round=1, step="officer_1", role="officer", actor="officer_alice", outcome="Pass"
    )
    again = store.record_decision(
        t.stats_id,
        round=1,
        step="officer_1",
        role="officer",
        actor="someone",
        outcome="Request revisions",
    )
    assert again.actor == "officer_alice" and again.outcome == "Pass"
    assert len(store.decisions(t.stats_id)) == 1


def test_email_claim_is_once_only(database_url):
    store = TicketStore(database_url)
    t = _new(store)
    assert store.claim_email(t.stats_id, "ack", subject="s", recipients=["a@x.example"])
    assert not store.claim_email(t.stats_id, "ack", subject="s", recipients=["a@x.example"])
    assert store.email_status(t.stats_id, "ack") == "claimed"
    store.mark_email_sent(t.stats_id, "ack")
    assert store.email_status(t.stats_id, "ack") == "sent"


def test_unknown_and_malformed_ids(database_url):
    store = TicketStore(database_url)
    with pytest.raises(UnknownTicket, match="no ticket STATS99999"):
        store.get("STATS99999")
    with pytest.raises(UnknownTicket, match="is not a STATS-ID"):
        store.get("../etc/passwd")
    with pytest.raises(TicketError, match="unknown request kind"):
        _new(store, kind="export")


def test_state_machine_shape():
    for state in OPEN_STATES:
        assert S.CLOSED_PROJECT_ENDED in TRANSITIONS[state]
    for state in TERMINAL_STATES:
        assert not TRANSITIONS[state]
    check_transition("revisions_requested", "checking")
    for done in (S.RELEASED, S.PLACED):
        with pytest.raises(IllegalTransition):
            check_transition(done, S.CLOSED_PROJECT_ENDED)
    with pytest.raises(IllegalTransition):
        check_transition("received", "nonsense")


def test_cli_lists_and_shows_ticket(capsys, monkeypatch, tmp_path):
    from include.cli import main
    from include.settings import get_settings

    store = TicketStore(get_settings().database_url)
    t = _new(store)
    store.transition(t.stats_id, S.CHECKING, actor="pipeline")
    assert main(["tickets", "--state", "checking"]) == 0
    assert t.stats_id in capsys.readouterr().out
    assert main(["tickets", "--state", "received"]) == 0
    assert "no tickets" in capsys.readouterr().out
    assert main(["ticket", t.stats_id]) == 0
    out = capsys.readouterr().out
    assert "audit trail:" in out and "received→checking" in out
    assert main(["ticket", "STATS424242"]) == 2
    assert main(["tickets", "--state", "bogus"]) == 2


def test_a_closed_ticket_refuses_every_further_step(database_url):
    from include.tickets import TicketClosed

    store = TicketStore(database_url)
    t = _new(store)
    store.transition(t.stats_id, S.CLOSED_PROJECT_ENDED, actor="closure")
    with pytest.raises(TicketClosed, match="closed because its project ended"):
        store.transition(t.stats_id, S.CHECKING, actor="pipeline", expected=S.RECEIVED)
    with pytest.raises(TicketClosed):
        store.start_round(t.stats_id, folder="x_v2", actor="r")
