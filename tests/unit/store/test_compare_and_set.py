"""Every write to a ticket or round is compare-and-set: no lost update, a stale write refused."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.orm import sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from include.db import get_engine
from include.ticket_tables import RoundRow, TicketRow
from include.tickets import StaleState, TicketStore
from tests.unit.store.helpers import new_ticket


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
