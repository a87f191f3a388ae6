"""The intake sweep with many folders already registered: its database work is a fixed number
of queries per project, so a sweep with nothing new grows only with the folders it lists."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import event

from include import sweeps
from include.db import get_engine
from include.states import TicketState as S
from include.storage import Place
from include.ticket_tables import TicketRow

TODAY = date(2026, 12, 1)
LIVE = ("1234567", "4567890", "2345678")  # the demo projects live on TODAY


class NoAirflow:
    """A sweep that finds nothing new calls Airflow for nothing: every call fails the test."""

    def __getattr__(self, name: str):
        raise AssertionError(f"the sweep called Airflow's {name} with nothing new to start")


def _registered(p, n: int, start: int = 0) -> None:
    """``n`` folders in each live project's Ready for Checking, each with its ticket (some
    blocked, some with a second round in a _v2 folder, some finished)."""
    for project in LIVE:
        for i in range(start, start + n):
            folder = f"2026_11_{project}_Scale{i:04d}_v1"
            p.storage.write_bytes(Place(project, sweeps.READY, folder), "table.csv", b"a,b\n1,2\n")
            t = p.store.create(
                kind="output", project=project, requester="r_jones", folder=folder, actor="t"
            )
            p.store.record_trigger(t.stats_id, 1, t.run_id)
            p.store.transition(t.stats_id, S.CHECKING, actor="t")
            if i % 3 == 0:
                p.store.transition(t.stats_id, S.REVISIONS_REQUESTED, actor="t")
                if i % 2 == 0:  # resubmitted: its v2 folder is known too
                    v2 = folder.replace("_v1", "_v2")
                    p.storage.write_bytes(Place(project, sweeps.READY, v2), "t.csv", b"a\n1\n")
                    p.store.start_round(t.stats_id, folder=v2, actor="t")
            elif i % 3 == 1:
                p.store.transition(t.stats_id, S.AWAITING_OFFICERS, actor="t")


@pytest.fixture
def p(demo_pipeline):
    return demo_pipeline


def test_a_sweep_with_nothing_new_runs_the_same_queries_for_5_or_60_folders_a_project(p):
    seen: list[str] = []
    loaded: list[str] = []
    on_sql = lambda _c, _cur, statement, *_a: seen.append(statement)  # noqa: E731
    on_load = lambda row, _ctx: loaded.append(row.state)  # noqa: E731
    event.listen(get_engine(p.settings.database_url), "before_cursor_execute", on_sql)
    event.listen(TicketRow, "load", on_load)

    def sweep() -> int:
        blocked = len(p.store.find(states=[S.REVISIONS_REQUESTED]))
        seen.clear()
        loaded.clear()
        result = sweeps.sweep_intake(p, NoAirflow(), today=TODAY)
        assert result.projects == len(LIVE)
        assert not result.started and not result.not_started and not result.errors
        # Whole tickets (rounds, manifests) only for those it may act on: the blocked ones
        # here; every other registered folder is a name in a set.
        assert set(loaded) == {S.REVISIONS_REQUESTED.value}
        assert len(loaded) == blocked
        return len(seen)

    try:
        _registered(p, 5)
        few = sweep()
        _registered(p, 55, start=5)
        assert sweep() == few
    finally:
        event.remove(TicketRow, "load", on_load)
