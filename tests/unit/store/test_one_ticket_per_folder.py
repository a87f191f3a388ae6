"""One open ticket per request folder, by construction (a partial unique index)."""

from __future__ import annotations

import multiprocessing
import random

import pytest

from include.db import get_engine
from include.states import TicketState as S
from include.tickets import DuplicateRequest, TicketStore
from tests.unit.store.helpers import new_ticket

FOLDERS = [f"2026_12_03_Race{i}_v1" for i in range(5)]
PROCESSES = 8


def _register_all(url: str, seed: int, queue) -> None:
    store = TicketStore(url)
    order = FOLDERS[:]
    random.Random(seed).shuffle(order)
    out = []
    for folder in order:
        reg = store.register(
            kind="output", project="1234567", requester="r_rahman", folder=folder, actor="sweep"
        )
        out.append((folder, reg.ticket.stats_id, reg.created))
    queue.put(out)


def test_many_processes_registering_the_same_folders_get_one_ticket_each(database_url):
    get_engine(database_url)  # migrated before the workers race
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_register_all, args=(database_url, seed, queue))
        for seed in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    by_folder: dict[str, set[str]] = {}
    created = 0
    for batch in results:
        for folder, stats_id, was_created in batch:
            by_folder.setdefault(folder, set()).add(stats_id)
            created += was_created
    assert all(len(ids) == 1 for ids in by_folder.values()), by_folder
    assert set(by_folder) == set(FOLDERS)
    assert created == len(FOLDERS)  # every other call was told "already there"
    assert len(TicketStore(database_url).find()) == len(FOLDERS)


def test_create_refuses_a_second_open_ticket_and_register_returns_the_first(database_url):
    store = TicketStore(database_url)
    first = new_ticket(store, folder="2026_12_03_Once_v1")
    with pytest.raises(DuplicateRequest, match=f"already has open request {first.stats_id}"):
        new_ticket(store, folder="2026_12_03_Once_v1")
    again = store.register(
        kind="output", project="1234567", requester="r", folder="2026_12_03_Once_v1", actor="x"
    )
    assert (again.ticket.stats_id, again.created) == (first.stats_id, False)
    # Other kinds and other projects are other request folders.
    assert new_ticket(store, folder="2026_12_03_Once_v1", kind="ingest").stats_id
    assert new_ticket(store, folder="2026_12_03_Once_v1", project="2345678").stats_id


def test_a_closed_ticket_frees_its_folder(database_url):
    store = TicketStore(database_url)
    first = new_ticket(store, folder="2026_12_03_Again_v1")
    store.transition(first.stats_id, S.REJECTED, actor="intake")  # refused at intake
    reg = store.register(
        kind="output", project="1234567", requester="r", folder="2026_12_03_Again_v1", actor="x"
    )
    assert reg.created and reg.ticket.stats_id != first.stats_id
