"""include.ticket_queries: need-to-know as SQL, pages in queue order, counts, and the sweep's
folder listing; each agrees with the Python rule it replaces, at a cost that does not grow with
the number of tickets."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from include import access
from include import ticket_queries as tq
from include.db import get_engine, session_scope
from include.states import BLOCKED_STATES, OPEN_STATES
from include.states import TicketState as S

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

READERS = {
    "ops": access.Reader("ops", access.Scope.ALL),
    "do_ashe": access.Reader("do_ashe", access.Scope.OWN_DATASETS, frozenset({"ASHE"})),
    "do_lfs": access.Reader("do_lfs", access.Scope.OWN_DATASETS, frozenset({"LFS"})),
    "do_both": access.Reader("do_both", access.Scope.OWN_DATASETS, frozenset({"ASHE", "LFS"})),
    "nobody": access.Reader("r_jones", access.Scope.NONE),
}


@contextmanager
def statements(url: str):
    """The SQL statements run on ``url``'s engine inside the block."""
    seen: list[str] = []
    engine = get_engine(url)

    def count(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _seed(store, n: int, *, start: int = 0) -> list:
    """``n`` tickets over the demo projects (one unregistered) and transfers between them,
    in every section: waiting, blocked, finished. Received ``start + i`` minutes after T0."""
    projects = ("1234567", "4567890", "2345678", "3456789", "9999999")
    made = []
    for i in range(start, start + n):
        project = projects[i % len(projects)]
        kw = {}
        if i % 7 == 3:  # a transfer into another project: its destination counts too
            kw = {"kind": "transfer", "destination_project": projects[(i + 1) % len(projects)]}
        t = store.create(
            kind=kw.pop("kind", "ingest" if i % 4 == 1 else "output"),
            project=project,
            requester="r_rahman",
            folder=f"2026_11_01_Q{i:04d}_v1",
            actor="test",
            received_at=T0 + timedelta(minutes=i),
            **kw,
        )
        if i % 5 == 2:
            store.transition(t.stats_id, S.CHECKING, actor="t")
            t = store.transition(t.stats_id, S.REVISIONS_REQUESTED, actor="t")
        elif i % 5 == 4:
            t = store.transition(t.stats_id, S.REJECTED, actor="t")
        made.append(t)
    return made


@pytest.fixture
def store(demo_pipeline):
    return demo_pipeline.store


@pytest.fixture
def datasets_of(demo_pipeline):
    return access.load_datasets_of(demo_pipeline.settings.database_url)


def test_sql_visibility_agrees_with_access_may_view_for_every_ticket(store, datasets_of):
    tickets = _seed(store, 40)
    everything = store.find()  # (a store read opens its own transaction: not inside ours)
    for name, who in READERS.items():
        expected = access.visible(who, everything, datasets_of)
        with session_scope(store.url) as s:
            got = tq.page(s, who, limit=tq.MAX_PAGE_SIZE)
            one_by_one = [t for t in tickets if tq.may_view(s, who, t)]
            counts = tq.counts_by_state(s, who)
        assert [t.stats_id for t in got.tickets] == [t.stats_id for t in expected], name
        assert got.total == len(expected), name
        assert one_by_one == access.visible(who, tickets, datasets_of), name
        by_state: dict[str, int] = {}
        for t in expected:
            by_state[t.state.value] = by_state.get(t.state.value, 0) + 1
        assert counts == by_state, name  # counts of what they may see, not of the store
    # The rule is not vacuous here: an owner sees some tickets and not others.
    assert 0 < len(access.visible(READERS["do_ashe"], tickets, datasets_of)) < len(tickets)


def test_sections_pages_and_filters_in_queue_order(store):
    tickets = _seed(store, 23)
    who = READERS["ops"]
    waiting = [t for t in tickets if t.state in OPEN_STATES and t.state not in BLOCKED_STATES]
    finished = [t for t in tickets if t.state not in OPEN_STATES]
    with session_scope(store.url) as s:
        walked, offset = [], 0
        while offset is not None:
            got = tq.page(s, who, tq.Section.OPEN, offset=offset, limit=4)
            assert got.total == len(waiting) and len(got.tickets) <= 4
            walked += [t.stats_id for t in got.tickets]
            offset = got.next_offset
        assert walked == [t.stats_id for t in waiting]  # oldest received first, none twice
        last = tq.page(s, who, tq.Section.OPEN, offset=8, limit=4)
        assert last.previous_offset == 4 and last.first == 9
        latest = tq.page(s, who, tq.Section.FINISHED, limit=100).tickets
        assert {t.stats_id for t in latest} == {t.stats_id for t in finished}
        assert [t.updated_at for t in latest] == sorted(
            (t.updated_at for t in latest), reverse=True
        )
        blocked = tq.page(s, who, tq.Section.BLOCKED, limit=100).tickets
        assert blocked and all(t.state == S.REVISIONS_REQUESTED for t in blocked)
        assert tq.oldest_waiting(s, who).stats_id == waiting[0].stats_id
        # A project filter matches either end of a transfer.
        into = [t for t in tickets if t.destination_project == "4567890"]
        assert into
        by_project = tq.page(s, who, filters=tq.QueueFilter(project="4567890"), limit=100)
        assert {t.stats_id for t in into} <= {t.stats_id for t in by_project.tickets}
        ingest = tq.page(s, who, filters=tq.QueueFilter(kind="ingest"), limit=100).tickets
        assert ingest and all(t.kind == "ingest" for t in ingest)
        only = tq.QueueFilter(states=("revisions_requested",))
        assert tq.page(s, who, tq.Section.OPEN, only).total == 0  # blocked is not waiting


def test_a_page_loads_whole_tickets_with_their_rounds(store):
    t = store.create(
        kind="output", project="1234567", requester="r_rahman", folder="A_v1", actor="t"
    )
    store.transition(t.stats_id, S.CHECKING, actor="t")
    store.transition(t.stats_id, S.REVISIONS_REQUESTED, actor="t")
    store.start_round(t.stats_id, folder="A_v2", actor="t")
    with session_scope(store.url) as s:
        got = tq.page(s, READERS["ops"]).tickets[0]
    assert got == store.get(t.stats_id) and [r.folder for r in got.rounds] == ["A_v1", "A_v2"]


def test_a_page_costs_the_same_number_of_queries_for_30_or_300_tickets(store):
    def cost() -> int:
        with statements(store.url) as seen, session_scope(store.url) as s:
            for who in READERS.values():
                tq.counts_by_state(s, who)
                tq.oldest_waiting(s, who)
                tq.page(s, who, tq.Section.OPEN, limit=50)
                tq.page(s, who, tq.Section.FINISHED, limit=50)
        return len(seen)

    _seed(store, 30)  # every list non-empty for every owner (an empty page skips its rounds)
    few = cost()
    _seed(store, 270, start=30)
    assert cost() == few


def test_known_folders_names_every_rounds_folder_and_nothing_else(store):
    first = store.create(
        kind="output", project="1234567", requester="r_rahman", folder="A_v1", actor="t"
    )
    store.transition(first.stats_id, S.CHECKING, actor="t")
    store.transition(first.stats_id, S.REVISIONS_REQUESTED, actor="t")
    store.start_round(first.stats_id, folder="A_v2", actor="t")
    store.create(kind="ingest", project="4567890", requester="r_smith", folder="B_v1", actor="t")
    with session_scope(store.url) as s:
        known = tq.known_folders(s, ["1234567", "4567890", "2345678"])
        acted = tq.tickets_in_states(s, ["1234567", "4567890"], [S.RECEIVED])
    assert known == {"1234567": {"A_v1", "A_v2"}, "4567890": {"B_v1"}, "2345678": set()}
    assert [t.folder for t in acted] == ["B_v1"]
    assert known["1234567"] == store.get(first.stats_id).folders_used()
