"""`suppression_recoverable`: suppressed cells that margins, other cells or another table
give away, each beside suppression that holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.checks.engine import check_path
from include.checks.findings import Severity
from include.checks.policy import CheckPolicy
from include.checks.secondary import LedgerIndex, secondary_findings
from tests.unit.checks.secondary_tables import table

POLICY = CheckPolicy(threshold=10)
RULE = "suppression_recoverable"


def found(tables, released=(), policy=POLICY):
    ledger = released if isinstance(released, LedgerIndex) else list(released)
    return [f for f in secondary_findings(tables, ledger, policy) if f.rule == RULE]


@pytest.mark.parametrize("marker", ["*", "c", "[c]", "x", "..", "<10", "-", ""])
def test_only_suppressed_cell_in_a_row_with_a_total(marker):
    t = table("t.csv", ["region", "sex", "count"],
              [["North", "F", 41], ["North", "M", marker], ["North", "Total", 44],
               ["South", "F", 31], ["South", "M", 32], ["South", "Total", 63]])  # fmt: skip
    hits = found([t])
    assert len(hits) == 1, marker
    f = hits[0]
    assert f.severity == Severity.BLOCK and f.kind == "margins"
    assert f.location.row == 3 and "exactly 3" in f.message and f.related is None


def test_two_suppressed_cells_in_a_row_hold_unless_a_column_total_gives_one_away():
    rows = [["North", "F", 41], ["North", "M", "*"], ["North", "X", "*"], ["North", "Total", 61],
            ["South", "F", 31], ["South", "M", 32], ["South", "X", 40], ["South", "Total", 103]]  # fmt: skip
    # North's M and X share 20 between them: anything from 0 to 20 each (holds).
    assert not found([table("t.csv", ["region", "sex", "count"], rows)])
    # A column total for M pins North M (35 - 32 = 3), and then North X.
    with_totals = rows + [["Total", "M", 35]]
    hits = found([table("t.csv", ["region", "sex", "count"], with_totals)])
    assert {h.location.row for h in hits} == {3, 4}


def test_linear_programme_bounds_a_cell_from_several_equations():
    # Wide cross-tab: rows and columns both totalled; four suppressed cells in a square.
    t = table("x.csv", ["region", "A", "B", "C", "Total"],
              [["North", "*", "*", 50, 61], ["South", "*", "*", 60, 88],
               ["East", 30, 30, 30, 90], ["Total", 39, 60, 140, 239]])  # fmt: skip
    assert t.wide and t.counts == ("count",)
    # NA + NB = 11, SA + SB = 28, NA + SA = 9, NB + SB = 30: NA and SA lie in [0, 9], NB in
    # [2, 11], SB in [19, 28]: each range is 9 wide, narrower than 10.
    hits = found([t])
    assert {(h.location.row, h.location.column) for h in hits} == {
        (2, "A"),
        (2, "B"),
        (3, "A"),
        (3, "B"),
    }
    assert any("between 19 and 28" in h.message for h in hits)
    ranges_ok = table("x.csv", ["region", "A", "B", "C", "Total"],
                      [["North", "*", "*", 50, 100], ["South", "*", "*", 60, 140],
                       ["East", 30, 30, 30, 90], ["Total", 70, 120, 140, 330]])  # fmt: skip
    assert not found([ranges_ok])


def test_a_released_table_supplies_the_margin():
    new = table("by_region_sex.csv", ["region", "sex", "count"],
                [["North", "F", 41], ["North", "M", "*"], ["South", "F", 31], ["South", "M", 32]])  # fmt: skip
    assert not found([new])  # no total here: it holds on its own
    margin = table("by_region.csv", ["region", "count"], [["North", 44], ["South", 63]], "STATS-7")
    hits = found([new], [margin])
    assert len(hits) == 1 and hits[0].kind == "cross_table"
    assert hits[0].related.source == "STATS-7" and hits[0].related.file == "by_region.csv"
    assert hits[0].related.cell == "row 2"  # North's 44 there
    assert hits[0].related.compare[0] == ("region=North, sex=M", "suppressed", "margin 44")
    assert "exactly 3" in hits[0].message
    # Control: a released margin of another population (it contradicts the table) is ignored.
    other = table("by_region.csv", ["region", "count"], [["North", 30], ["South", 63]], "STATS-7")
    assert not found([new], [other])


def test_new_table_is_the_margin_that_gives_a_released_cell_away():
    old = table("by_region_sex.csv", ["region", "sex", "count"],
                [["North", "F", 41], ["North", "M", "*"], ["South", "F", 31], ["South", "M", 32]],
                "STATS-8")  # fmt: skip
    new = table("by_region.csv", ["region", "count"], [["North", 44], ["South", 63]])
    hits = found([new], [old])
    assert len(hits) == 1 and hits[0].kind == "released_cell"
    assert hits[0].location.file == "by_region.csv" and hits[0].related.source == "STATS-8"
    assert hits[0].related.cell == "row 3"  # the released table's suppressed North/M
    assert hits[0].related.compare[0] == ("region=North, sex=M", "margin 44", "suppressed")


def test_rounded_table_widens_the_ranges():
    # Counts rounded to 5: North M is 45 - 40 = 5 give or take the rounding of both.
    rounded = table("t.csv", ["region", "sex", "count"],
                    [["North", "F", 40], ["North", "M", "*"], ["North", "Total", 45],
                     ["South", "F", 30], ["South", "M", 35], ["South", "Total", 65]])  # fmt: skip
    assert not found([rounded])


def test_through_the_engine(tmp_path: Path):
    (tmp_path / "t.csv").write_text("region,count\nNorth,*\nSouth,120\nTotal,123\n")
    report = check_path(tmp_path, POLICY)
    hits = [f for f in report.all_findings() if f.rule == RULE]
    assert len(hits) == 1 and hits[0].location.file == "t.csv" and report.verdict == "fail"


def test_ledger_of_1000_suppressed_tables_checks_in_under_a_second():
    import time

    ledger = []
    for i in range(1000):
        dim = ("region", "tenure", "age", "sex", "year")[i % 5]
        # Two suppressed cells (100 and 102) and the total: each holds on its own.
        rows = [[f"{dim}{j}", "*" if j < 2 else 100 + j] for j in range(8)]
        ledger.append(table(f"t{i}.csv", [dim, "count"], rows + [["Total", 829]],
                            f"STATS-{i:04d}"))  # fmt: skip
    index = LedgerIndex(ledger)
    new = table("new.csv", ["region", "sex", "count"],
                [[f"region{j}", s, "*" if (j, s) == (3, "F") else 50 + j]
                 for j in range(8) for s in ("F", "M")])  # fmt: skip
    started = time.process_time()
    hits = found([new], index)
    elapsed = time.process_time() - started
    # The region tables give away the new table's region3/F (103 - 53 = 50); the new table's
    # region0 (50 + 50) gives away each region table's first suppressed cell, and so its second.
    assert {h.kind for h in hits} == {"cross_table", "released_cell"}
    assert len([h for h in hits if h.kind == "cross_table"]) == 1  # named once, by the first
    assert len({h.related.source for h in hits if h.kind == "released_cell"}) == 200
    assert elapsed < 1.0, elapsed  # CPU seconds: other processes on the machine do not count
