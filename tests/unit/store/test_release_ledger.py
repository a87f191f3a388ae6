"""The release ledger: every released table recorded once, typed, append-only, read back whole."""

from __future__ import annotations

import io
import json

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from include import release_ledger as ledger
from include.checks.table_profile import profile_tables
from include.db import _create, current_revision, dispose_engines, get_engine
from include.store_migrations import alembic_config
from include.tickets import TicketStore
from tests.unit.store.helpers import new_ticket

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
BY_REGION_TENURE = (
    "region,tenure,n\n"
    "North,Owner,412\nNorth,Renter,187\nSouth,Owner,1530\nSouth,Renter,644\n"
    "Total,Total,2773\n"
)
BY_REGION_AGE = "Region,age band,count\nNorth,16-24,120\nNorth,25-34,479\nSouth,16-24,800\n"
BY_SEX = "sex,n\nF,300\nM,280\n"


def _workbook() -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "By tenure"
    for row in (("tenure", "n"), ("Owner", 1942), ("Renter", 831)):
        ws.append(row)
    ws2 = wb.create_sheet("By sex")
    for row in (("sex", "n"), ("F", 300), ("M", 280)):
        ws2.append(row)
    hidden = wb.create_sheet("workings")
    hidden.append(("sex", "n"))
    hidden.append(("F", 1))
    hidden.sheet_state = "hidden"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


RELEASE = {
    "tables/by_region_tenure.csv": BY_REGION_TENURE.encode(),
    "summary.xlsx": _workbook(),
    "model.py": b"print('not a table')\n",
}


def _count(url: str) -> int:
    with get_engine(url).connect() as conn:
        return conn.execute(sa.text("SELECT COUNT(*) FROM released_tables")).scalar_one()


def test_a_release_records_each_table_and_reads_back_as_the_same_profiles(database_url, tmp_path):
    store = TicketStore(database_url)
    t = new_ticket(store)
    assert ledger.record_release(store, t, RELEASE) == 3  # the CSV and two visible sheets
    rows = ledger.entries(store, stats_id=t.stats_id)
    assert [(e.file, e.sheet, e.round) for e in rows] == [
        ("summary.xlsx", "By tenure", 1),
        ("summary.xlsx", "By sex", 1),
        ("tables/by_region_tenure.csv", None, 1),
    ]
    # What comes back is exactly what profiling the released files gives.
    for rel, data in RELEASE.items():
        path = tmp_path / rel.replace("/", "_")
        path.write_bytes(data)
        expected = profile_tables(path, source=t.stats_id, file=rel)
        assert [e.profile for e in rows if e.file == rel] == expected
    csv = next(e.profile for e in rows if e.sheet is None)
    assert csv.dimensions == ("region", "tenure") and csv.counts == ("n",)
    assert csv.totals == {"region": "Total", "tenure": "Total"}
    assert ledger.released_tables(store, t.project) == [e.profile for e in rows]
    assert ledger.released_tables(store, "7654321") == []


def test_a_retried_release_records_nothing_twice(database_url):
    store = TicketStore(database_url)
    t = new_ticket(store)
    assert ledger.record_release(store, t, RELEASE) == 3
    assert ledger.record_release(store, t, RELEASE) == 0
    assert _count(database_url) == 3
    assert ledger.record_release(store, t, {}) == 0  # nothing tabular: nothing to write


def test_a_folder_is_recorded_like_the_files_in_it(database_url, tmp_path):
    store = TicketStore(database_url)
    t = new_ticket(store)
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "by_region_tenure.csv").write_bytes(BY_REGION_TENURE.encode())
    (tmp_path / "notes.txt").write_text("no table")
    assert ledger.record_release(store, t, tmp_path) == 1
    assert [e.file for e in ledger.entries(store, stats_id=t.stats_id)] == [
        "tables/by_region_tenure.csv"
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE released_tables SET file = 'other.csv'",
        "UPDATE released_tables SET cells = '{}'",
        "DELETE FROM released_tables",
    ],
)
def test_plain_sql_cannot_change_or_remove_a_ledger_row(database_url, sql):
    store = TicketStore(database_url)
    t = new_ticket(store)
    ledger.record_release(store, t, RELEASE)
    with pytest.raises(Exception, match="append-only"), get_engine(database_url).begin() as conn:
        conn.execute(sa.text(sql))
    assert _count(database_url) == 3


def test_released_tables_sharing_a_dimension(database_url, tmp_path):
    store = TicketStore(database_url)
    first = new_ticket(store)
    ledger.record_release(store, first, {"a.csv": BY_REGION_TENURE.encode()})
    other_project = new_ticket(store, project="7654321")
    ledger.record_release(store, other_project, {"a.csv": BY_REGION_TENURE.encode()})
    second = new_ticket(store)
    ledger.record_release(store, second, {"sex.csv": BY_SEX.encode()})

    new = tmp_path / "age.csv"
    new.write_text(BY_REGION_AGE)
    asked = profile_tables(new, source="new request")
    shared = ledger.sharing_dimensions(store, first.project, asked)
    # "Region" matches "region" (names compared as the rules compare them); the other project's
    # table and the table by sex are not listed.
    assert [(s.stats_id, s.file, s.sheet, s.shared) for s in shared] == [
        (first.stats_id, "a.csv", None, ("region",))
    ]
    assert shared[0].table is asked[0]
    assert ledger.sharing_dimensions(store, first.project, asked, exclude=first.stats_id) == []
    assert ledger.sharing_dimensions(store, first.project, []) == []


def test_an_upgrade_from_0003_keeps_the_tickets_and_starts_an_empty_ledger(tmp_path):
    url = f"sqlite:///{tmp_path / 'at0003.db'}"
    engine = _create(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0003")
        conn.execute(
            sa.text(
                "INSERT INTO tickets (stats_id, kind, project, requester, folder, round, state, "
                "received_at, queued_at, updated_at, assigned_officers, details, version) VALUES "
                "('STATS00001', 'output', '1234567', 'r_rahman', 'x_v1', 1, 'released', "
                "'2026-11-02 09:00:00', '2026-11-02 09:00:00', '2026-11-02 09:00:00', '[]', "
                "'{}', 1)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO projects (number, title, kind, start_date, end_date, threshold, "
                "indirect_permitted, approved_variables) VALUES ('1234567', 'P', 'full', "
                "'2026-01-01', '2027-01-01', 10, '[]', '[]')"
            )
        )
    engine.dispose()
    assert current_revision(url) == "0003"
    store = TicketStore(url)
    t = store.get("STATS00001")  # the first use upgrades
    assert current_revision(url) == HEAD
    assert (t.state, t.folder) == ("released", "x_v1")
    assert ledger.released_tables(store, "1234567") == []
    assert ledger.record_release(store, t, {"a.csv": BY_REGION_TENURE.encode()}) == 1
    with get_engine(url).connect() as conn:
        assert conn.execute(sa.text("SELECT rounding_base FROM projects")).all() == [(None,)]
    dispose_engines()


def test_a_ledger_row_names_a_real_ticket(database_url):
    get_engine(database_url)  # at head
    with pytest.raises(sa.exc.IntegrityError), get_engine(database_url).begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO released_tables (project, stats_id, round, file, sheet, sha256, "
                "signature, dimensions, categories, counts, magnitudes, totals, cells, "
                "released_at) VALUES ('1234567', 'STATS99999', 1, 'b.csv', '', '', '', '[]', "
                "'{}', '[]', '[]', '{}', '{}', '2026-12-03 10:00:00')"
            )
        )


def test_the_stored_ledger_loads_only_the_tables_a_new_one_shares_a_dimension_with(
    database_url, tmp_path
):
    from include.checks.secondary import LedgerIndex

    store = TicketStore(database_url)
    first = new_ticket(store)
    ledger.record_release(store, first, {"a.csv": BY_REGION_TENURE.encode()})
    second = new_ticket(store)
    ledger.record_release(
        store, second, {"sex.csv": BY_SEX.encode(), "b.csv": BY_REGION_AGE.encode()}
    )
    new = tmp_path / "age.csv"
    new.write_text(BY_REGION_AGE)
    (asked,) = profile_tables(new, source="new request")

    stored = ledger.StoredLedger(store, first.project)
    assert len(stored) == 3 and stored._loaded == {}  # signatures only, so far
    in_memory = LedgerIndex(ledger.released_tables(store, first.project))
    assert stored.sharing(asked) == in_memory.sharing(asked)
    assert [t.file for t in stored.sharing(asked)] == ["a.csv", "b.csv"]
    assert len(stored._loaded) == 2  # the table by sex was never read
    assert stored.tables == in_memory.tables
    # A request is not compared with its own release (a later round, a re-check).
    mine = ledger.StoredLedger(store, first.project, exclude=second.stats_id)
    assert [t.source for t in mine.sharing(asked)] == [first.stats_id]


def test_the_app_role_records_and_reads_the_ledger_but_cannot_rewrite_it(postgres_url):
    """The pipeline's PostgreSQL role (srs db grant-app-role): INSERT ... ON CONFLICT DO
    NOTHING and SELECT, never UPDATE or DELETE, even with the trigger dropped."""
    import uuid

    from include.db_grants import grant_app_role
    from tests.unit.store.helpers import drop_guard

    store = TicketStore(postgres_url)
    t = new_ticket(store)
    ledger.record_release(store, t, {"a.csv": BY_REGION_TENURE.encode()})
    role = f"h6_app_{uuid.uuid4().hex[:8]}"
    engine = get_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{role}" NOLOGIN')
    try:
        grant_app_role(postgres_url, role)
        drop_guard(engine, "released_tables")
        with engine.begin() as conn:
            conn.exec_driver_sql(f'SET LOCAL ROLE "{role}"')
            row = (
                conn.execute(
                    sa.text(
                        "SELECT project, stats_id, round, file, sheet, sha256, signature, "
                        "dimensions, categories, counts, magnitudes, totals, cells, released_at "
                        "FROM released_tables"
                    )
                )
                .mappings()
                .one()
            )
            again = conn.execute(
                sa.text(
                    "INSERT INTO released_tables (project, stats_id, round, file, sheet, sha256, "
                    "signature, dimensions, categories, counts, magnitudes, totals, cells, "
                    "released_at) VALUES (:project, :stats_id, :round, :file, :sheet, :sha256, "
                    ":signature, CAST(:dimensions AS JSON), CAST(:categories AS JSON), "
                    "CAST(:counts AS JSON), CAST(:magnitudes AS JSON), CAST(:totals AS JSON), "
                    "CAST(:cells AS JSON), :released_at) "
                    "ON CONFLICT (stats_id, round, file, sheet) DO NOTHING RETURNING id"
                ),
                {
                    **row,
                    **{
                        k: json.dumps(row[k])
                        for k in (
                            "dimensions",
                            "categories",
                            "counts",
                            "magnitudes",
                            "totals",
                            "cells",
                        )
                    },
                },
            ).all()
            assert again == []  # a retried release: nothing written, and no error
        for sql in ("UPDATE released_tables SET file = 'x'", "DELETE FROM released_tables"):
            with pytest.raises(Exception, match="permission denied"), engine.begin() as conn:
                conn.exec_driver_sql(f'SET LOCAL ROLE "{role}"')
                conn.exec_driver_sql(sql)
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
            conn.exec_driver_sql(f'DROP ROLE "{role}"')
