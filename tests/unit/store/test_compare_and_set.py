"""Every write to a ticket or round is compare-and-set: no lost update, a stale write refused."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.orm import sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from include.db import get_engine
from include.states import TicketState as S
from include.ticket_tables import RoundRow, TicketRow
from include.tickets import StaleState, TicketStore
from tests.unit.store.helpers import MANIFEST, SUMMARY, new_ticket


def _pause_after_first_read(monkeypatch, barrier: threading.Barrier) -> None:
    """Each thread's first read of the ticket waits until the other thread has read it too,
    so both merge into the same old ``details`` before either writes."""
    read = TicketStore._row
    seen: set[int] = set()

    def row(s, stats_id):
        found = read(s, stats_id)
        me = threading.get_ident()
        if me not in seen:
            seen.add(me)
            barrier.wait(timeout=20)
        return found

    monkeypatch.setattr(TicketStore, "_row", staticmethod(row))


def test_two_writers_racing_on_postgres_lose_no_update(postgres_url, monkeypatch):
    store = TicketStore(postgres_url)
    t = new_ticket(store)
    _pause_after_first_read(monkeypatch, threading.Barrier(2))
    errors: list[BaseException] = []

    def write(key: str) -> None:
        try:
            TicketStore(postgres_url).set_fields(
                t.stats_id, actor="x", action="noted", details={key: True}
            )
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in ("first", "second")]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    monkeypatch.undo()
    assert errors == []
    details = store.get(t.stats_id).details
    assert details["first"] is True and details["second"] is True  # both merges survived
    assert [e.action for e in store.audit(t.stats_id)].count("noted") == 2
    assert store.verify_chain(t.stats_id).ok  # the loser re-read, so the chain is one line


def test_a_stale_write_raises(database_url):
    store = TicketStore(database_url)
    t = new_ticket(store)
    factory = sessionmaker(get_engine(database_url), expire_on_commit=False)
    for table, change, elsewhere in (
        (
            TicketRow,
            ("details", {"lost": True}),
            lambda: store.set_fields(t.stats_id, actor="other", action="noted", details={"k": 1}),
        ),
        (RoundRow, ("run_id", "mine"), lambda: store.record_run(t.stats_id, 1, "someone-else")),
    ):
        with factory() as s:
            row = s.query(table).first()
            s.commit()  # read at its current version; that transaction is over
            elsewhere()  # another writer moves the version on
            setattr(row, *change)
            with pytest.raises(StaleDataError):
                s.flush()  # UPDATE ... WHERE version = <the version read>: no row
    assert store.get(t.stats_id).details == {"k": 1}
    assert store.round(t.stats_id, 1).run_id == "someone-else"


def test_a_write_that_keeps_losing_is_refused_with_stale_state(postgres_url, monkeypatch):
    """Another writer commits between every read and write: after the bounded retries the
    store gives up and says so; the other writer's changes are all there."""
    store = TicketStore(postgres_url)
    t = new_ticket(store)
    read = TicketStore._row
    main = threading.get_ident()

    def row(s, stats_id):
        found = read(s, stats_id)
        if threading.get_ident() == main:  # the writer under test; the other one just writes
            th = threading.Thread(
                target=lambda: TicketStore(postgres_url).append_audit(
                    stats_id, actor="other", action="meanwhile"
                )
            )
            th.start()
            th.join(timeout=30)
        return found

    monkeypatch.setattr(TicketStore, "_row", staticmethod(row))
    with pytest.raises(StaleState, match="kept changing"):
        store.set_fields(t.stats_id, actor="x", action="noted", details={"never": True})
    monkeypatch.undo()
    assert "never" not in store.get(t.stats_id).details
    assert [e.action for e in store.audit(t.stats_id)].count("meanwhile") == 5


def _race(monkeypatch, *writes) -> list[BaseException]:
    """Run each write in its own thread, all reading the ticket before any of them writes;
    the race is real only if a loser had to read again."""
    _pause_after_first_read(monkeypatch, threading.Barrier(len(writes)))
    paused, reads = TicketStore._row, []

    def counted(s, stats_id):
        reads.append(stats_id)
        return paused(s, stats_id)

    monkeypatch.setattr(TicketStore, "_row", staticmethod(counted))
    errors: list[BaseException] = []

    def run(write) -> None:
        try:
            write()
        except BaseException as exc:  # returned to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in writes]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    monkeypatch.undo()
    assert len(reads) > len(writes), "no writer lost the race: nothing was tested"
    return errors


def test_two_writers_racing_on_a_round_on_postgres_lose_no_fact(postgres_url, monkeypatch):
    """The snapshot and the checks of one round, written at once from the same old read: both
    end in the round's row, each with its audit event, and the chain is one line."""
    store = TicketStore(postgres_url)
    t = new_ticket(store)
    place = f"1234567/Output/{t.stats_id}/{t.folder}"
    errors = _race(
        monkeypatch,
        lambda: TicketStore(postgres_url).record_snapshot(t.stats_id, 1, place, MANIFEST),
        lambda: TicketStore(postgres_url).record_checks(
            t.stats_id, 1, SUMMARY, f"1234567/Output/{t.stats_id}"
        ),
    )
    assert errors == []
    r = store.round(t.stats_id, 1)
    assert r.snapshot.manifest == MANIFEST and r.checks.verdict == SUMMARY.verdict
    actions = [e.action for e in store.audit(t.stats_id)]
    assert actions.count("snapshot_recorded") == 1 and actions.count("checks_recorded") == 1
    assert store.verify_chain(t.stats_id).ok


def test_two_runs_racing_for_one_round_on_postgres_one_wins(postgres_url, monkeypatch):
    """A round's run is recorded once: of two writers with different runs, the loser re-reads,
    finds the other's run and is refused; it never overwrites it."""
    store = TicketStore(postgres_url)
    t = new_ticket(store)
    errors = _race(
        monkeypatch,
        lambda: TicketStore(postgres_url).record_run(t.stats_id, 1, "run-a"),
        lambda: TicketStore(postgres_url).record_run(t.stats_id, 1, "run-b"),
    )
    assert len(errors) == 1 and "already has its run recorded" in str(errors[0])
    winner = store.round(t.stats_id, 1).run_id
    assert winner in ("run-a", "run-b") and winner not in str(errors[0]).split("'")
    recorded = [e for e in store.audit(t.stats_id) if e.action == "run_recorded"]
    assert [e.details["run_id"] for e in recorded] == [winner]
    assert store.verify_chain(t.stats_id).ok


def test_two_sweeps_racing_to_note_a_pending_trigger_on_postgres_note_it_once(
    postgres_url, monkeypatch
):
    """Two sweeps start a revised folder's run (round 2, not begun) at once: one event."""
    store = TicketStore(postgres_url)
    t = new_ticket(store)
    store.transition(t.stats_id, S.CHECKING, actor="p")
    store.transition(t.stats_id, S.REVISIONS_REQUESTED, actor="p")
    run = f"{t.stats_id}-r2"
    errors = _race(
        monkeypatch,
        lambda: TicketStore(postgres_url).record_trigger(t.stats_id, 2, run),
        lambda: TicketStore(postgres_url).record_trigger(t.stats_id, 2, run),
    )
    assert errors == []
    assert [e.action for e in store.audit(t.stats_id)].count("run_triggered") == 1
    r2 = store.start_round(t.stats_id, folder=t.folder[:-1] + "2", actor="r").current_round
    assert r2.triggered_run_id == run and store.verify_chain(t.stats_id).ok
