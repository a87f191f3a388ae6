"""Shared by the store tests: a ticket with a history, and raw SQL that bypasses the guards."""

from __future__ import annotations

import itertools

from sqlalchemy import Engine

from include.states import TicketState as S
from include.storage.base import Manifest, ManifestEntry
from include.store_migrations.triggers import drop_append_only
from include.tickets import CheckSummary, Ticket, TicketStore

_n = itertools.count(1)

MANIFEST = Manifest(
    [
        ManifestEntry("table.csv", "a" * 64, 120),
        ManifestEntry("notes/readme.txt", "b" * 64, 30),
    ]
)
SUMMARY = CheckSummary(
    verdict="review",
    counts={"files": 2, "by_severity": {"block": 0, "review": 1, "info": 3}},
    files=({"path": "table.csv", "role": "output", "type": "csv"},),
)


def new_ticket(store: TicketStore, folder: str | None = None, **kw) -> Ticket:
    args = {
        "kind": "output",
        "project": "1234567",
        "requester": "r_rahman",
        "folder": folder or f"2026_12_03_Store{next(_n)}_v1",
        "actor": "intake",
    }
    args.update(kw)
    return store.create(**args)


def with_history(store: TicketStore) -> Ticket:
    """A ticket with a run, a snapshot, checks, a decision and a few state changes."""
    t = new_ticket(store)
    store.record_run(t.stats_id, 1, f"{t.stats_id}-r1")
    store.record_snapshot(t.stats_id, 1, f"1234567/Output/{t.stats_id}/{t.folder}", MANIFEST)
    store.transition(t.stats_id, S.CHECKING, actor="pipeline")
    store.record_checks(t.stats_id, 1, SUMMARY, f"1234567/Output/{t.stats_id}")
    store.transition(t.stats_id, S.AWAITING_OFFICERS, actor="pipeline")
    store.record_decision(
        t.stats_id,
        round=1,
        step="officer_1",
        role="officer",
        actor="officer_alice",
        outcome="Pass",
        files=[("table.csv", "fine")],
    )
    return store.get(t.stats_id)


def drop_guard(engine: Engine, table: str) -> None:
    """What an attacker with the owner's SQL access would do first."""
    with engine.begin() as conn:
        drop_append_only(conn, table)
