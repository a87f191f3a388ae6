"""ACRO 1.0.2 on the same tables (tests/fixtures/acro/secondary, made by the real tool with
make_secondary_fixture.py): ACRO passes each crosstab on its own, suppressing North/M, and
only recommends a manual differencing review; the secondary rules find what the tables give
away together."""

from __future__ import annotations

import json
from pathlib import Path

from include.checks.engine import check_path
from include.checks.policy import CheckPolicy

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "acro" / "secondary"


def test_acro_itself_suppresses_each_table_and_only_recommends_a_review():
    results = json.loads((FIXTURE / "results.json").read_text())["results"]
    tables = {k: v for k, v in results.items() if v["type"] == "table"}
    assert len(tables) == 3
    for output in tables.values():
        assert output["properties"]["mitigation"] == "suppress"
        assert "manual review against other outputs for differencing" in output["summary"]
    # ACRO's margins are recomputed without the suppressed cell (North's total is 41, not 45).
    assert (FIXTURE / "output_0_0.csv").read_text().splitlines()[1] == "North,41,,41"


def test_our_rules_find_the_differences_and_the_recovered_cell():
    report = check_path(FIXTURE, CheckPolicy(threshold=10))
    found = [
        f for f in report.all_findings() if f.rule in ("differencing", "suppression_recoverable")
    ]
    recovered = [f for f in found if f.rule == "suppression_recoverable"]
    # North/M = 45 (the region table) - 41 (North/F), in both crosstabs; never "exactly 0"
    # from ACRO's recomputed margins.
    assert {(f.location.file, f.location.row, f.location.column) for f in recovered} == {
        ("output_0_0.csv", 2, "M"),
        ("output_2_0.csv", 2, "M"),
    }
    assert all("exactly 4" in f.message and f.related.file == "output_1_0.csv" for f in recovered)
    # The two crosstabs differ by the 3 South/F people ACRO let through.
    pair = [f for f in found if f.rule == "differencing" and f.location.file == "output_0_0.csv"
            and f.related.file == "output_2_0.csv"]  # fmt: skip
    assert any(f.location.row == 3 and f.location.column == "F" and "differ by 3" in f.message
               for f in pair)  # fmt: skip
