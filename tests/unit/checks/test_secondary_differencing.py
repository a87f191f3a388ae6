"""`differencing`: pairs and triples of tables whose populations differ by a small group, each
beside a negative control (the same tables with safe differences), through the engine."""

from __future__ import annotations

import json
import time
from pathlib import Path

from include.checks.engine import check_path
from include.checks.policy import CheckPolicy
from include.checks.report import render_json
from include.checks.secondary import LedgerIndex, secondary_findings
from include.checks.table_profile import profile_tables
from tests.unit.checks.secondary_tables import table

POLICY = CheckPolicy(threshold=10)


def write(path: Path, rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
    return path


def rules(findings, rule: str = "differencing"):
    return [f for f in findings if f.rule == rule]


def released(tmp_path: Path, name: str, rows) -> list:
    folder = tmp_path / "released"
    write(folder / name, rows)
    return profile_tables(folder / name, "STATS-0001", file=name)


REGION = [["region", "count"], ["North", 120], ["South", 200], ["Total", 320]]


def test_new_table_differs_from_released_by_a_small_group(tmp_path):
    old = released(tmp_path, "by_region.csv", REGION)
    new = write(tmp_path / "req" / "by_region_v2.csv",
                [["region", "count"], ["North", 117], ["South", 200], ["Total", 317]])  # fmt: skip
    report = check_path(new.parent, POLICY, released=old)
    found = rules(report.all_findings())
    assert {f.kind for f in found} == {"cell", "total"}
    cell = next(f for f in found if f.kind == "cell")
    assert cell.location.file == "by_region_v2.csv" and cell.location.row == 2
    assert cell.related.source == "STATS-0001" and cell.related.file == "by_region.csv"
    assert cell.related.cell == "row 2"
    assert cell.related.compare == (("region=North", "120", "117"),) or cell.related.compare == (
        ("region=North", "117", "120"),
    )
    assert "differ by 3" in cell.message and report.verdict == "fail"
    # JSON: the related entry names the released table and its cell.
    data = json.loads(render_json(report))
    entry = next(f for fr in data["files"] for f in fr["findings"] if f["rule"] == "differencing")
    assert entry["related"]["source"] == "STATS-0001"
    assert entry["related"]["file"] == "by_region.csv" and entry["related"]["cell"]


def test_safe_differences_and_identical_tables_are_not_flagged(tmp_path):
    old = released(tmp_path, "by_region.csv", REGION)
    safe = write(tmp_path / "req" / "by_region_v2.csv",
                 [["region", "count"], ["North", 150], ["South", 200], ["Total", 350]])  # fmt: skip
    assert not rules(check_path(safe.parent, POLICY, released=old).all_findings())
    same = write(tmp_path / "req2" / "by_region.csv", REGION)
    assert not rules(check_path(same.parent, POLICY, released=old).all_findings())


def test_two_tables_in_one_request_are_compared(tmp_path):
    req = tmp_path / "req"
    write(req / "a.csv", [["sex", "n"], ["F", 400], ["M", 380]])
    write(req / "b.csv", [["sex", "n"], ["F", 396], ["M", 380]])
    found = rules(check_path(req, POLICY).all_findings())
    assert len(found) >= 1
    assert found[0].related.source == "" and found[0].related.file in ("a.csv", "b.csv")
    # Control: the same two tables 40 apart.
    write(req / "b.csv", [["sex", "n"], ["F", 360], ["M", 380]])
    assert not rules(check_path(req, POLICY).all_findings())


def test_triple_each_pair_is_compared_and_named():
    a = table("a.csv", ["region", "age", "count"],
              [["North", "16-24", 50], ["North", "25-34", 60], ["South", "16-24", 70], ["South", "25-34", 80]])  # fmt: skip
    b = table("b.csv", ["region", "age", "count"],
              [["North", "16-24", 50], ["North", "25-34", 60], ["South", "16-24", 70], ["South", "25-34", 80]])  # fmt: skip
    c = table("c.csv", ["region", "count"], [["North", 106], ["South", 150]], "STATS-0002")
    found = rules(secondary_findings([a, b], [c], POLICY))
    # a and b are identical (nothing to subtract); each differs from c's North by 4.
    assert {(f.location.file, f.related.file) for f in found} == {
        ("a.csv", "c.csv"),
        ("b.csv", "c.csv"),
    }
    for name in ("a.csv", "b.csv"):  # North by 4, and so the total by 4
        assert {f.kind for f in found if f.location.file == name} == {"cell", "total"}
    # Control: c consistent with a and b.
    c_ok = table("c.csv", ["region", "count"], [["North", 110], ["South", 150]], "STATS-0002")
    assert not rules(secondary_findings([a, b], [c_ok], POLICY))


def test_nested_age_bands_reveal_the_band_between():
    a = table("a.csv", ["age", "count"], [["16-24", 100], ["25-34", 200]])
    b = table("b.csv", ["age", "count"], [["16–29", 104], ["30–34", 196]], "STATS-0003")
    found = rules(secondary_findings([a], [b], POLICY))
    assert found and all(f.kind == "nested" for f in found)
    assert any("25-29 group of 4" in f.message for f in found)
    # Control: the 25-29 band holds 40 people.
    b_ok = table("b.csv", ["age", "count"], [["16-29", 140], ["30-34", 160]], "STATS-0003")
    assert not rules(secondary_findings([a], [b_ok], POLICY))


def test_open_ended_and_overlapping_runs():
    a = table("a.csv", ["age", "count"], [["under 16", 30], ["16-64", 500], ["65+", 90]])
    b = table("b.csv", ["age", "count"], [["0-15", 30], ["16-69", 507], ["70 and over", 83]])
    found = rules(secondary_findings([a], [b], POLICY))
    assert any("65-69 group of 7" in f.message for f in found)


def test_region_against_its_parts():
    whole = table("regions.csv", ["region", "count"], [["London", 500], ["Wales", 300]], "STATS-4")
    parts = table("boroughs.csv", ["region", "count"],
                  [["Camden", 200], ["Hackney", 150], ["Islington", 144]])  # fmt: skip
    found = rules(secondary_findings([parts], [whole], POLICY))
    assert found and found[0].kind == "parts" and found[0].location.file == "boroughs.csv"
    assert "London" in found[0].message and "differ by 6" in found[0].message
    assert found[0].related.source == "STATS-4"
    # Control: the parts add up to London (no group left over).
    parts_ok = table("boroughs.csv", ["region", "count"],
                     [["Camden", 200], ["Hackney", 150], ["Islington", 150]])  # fmt: skip
    assert not rules(secondary_findings([parts_ok], [whole], POLICY))


def test_margin_of_a_two_way_table_against_a_one_way_table():
    two_way = table("two.csv", ["region", "sex", "count"],
                    [["North", "F", 60], ["North", "M", 60], ["South", "F", 100], ["South", "M", 100]])  # fmt: skip
    one_way = table("one.csv", ["region", "count"], [["North", 118], ["South", 200]], "STATS-5")
    found = rules(secondary_findings([two_way], [one_way], POLICY))
    assert any("region=North" in f.message and "differ by 2" in f.message for f in found)
    ok = table("one.csv", ["region", "count"], [["North", 120], ["South", 200]], "STATS-5")
    assert not rules(secondary_findings([two_way], [ok], POLICY))


def test_tables_without_a_shared_dimension_are_not_compared():
    a = table("a.csv", ["region", "count"], [["North", 120], ["South", 200]])
    b = table("b.csv", ["tenure", "count"], [["Owned", 118], ["Rented", 200]], "STATS-6")
    assert not secondary_findings([a], [b], POLICY)


def test_ledger_of_1000_tables_checks_in_under_a_second():
    ledger = []
    for i in range(1000):
        dim = ("region", "tenure", "age", "sex", "year")[i % 5]
        cats = [f"{dim}{j}" for j in range(8)]
        ledger.append(
            table(
                f"t{i}.csv",
                [dim, "count"],
                [[c, 100 + 10 * j] for j, c in enumerate(cats)],
                f"STATS-{i:04d}",
            )  # fmt: skip
        )
    index = LedgerIndex(ledger)
    new = table("new.csv", ["region", "count"], [[f"region{j}", 100 + 10 * j] for j in range(8)])
    started = time.process_time()
    findings = secondary_findings([new], index, POLICY)
    elapsed = time.process_time() - started
    assert len(index.sharing(new)) == 200  # only the tables over region are compared
    assert not rules(findings)
    assert elapsed < 1.0, elapsed  # CPU seconds: other processes on the machine do not count


def test_two_sheets_of_one_workbook_are_compared(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    first = wb.active
    first.title = "All"
    for row in [["region", "count"], ["North", 120], ["South", 200]]:
        first.append(row)
    second = wb.create_sheet("Adults")
    for row in [["region", "count"], ["North", 114], ["South", 200]]:
        second.append(row)
    wb.save(tmp_path / "t.xlsx")
    report = check_path(tmp_path, POLICY)
    found = rules(report.all_findings())
    assert found, [f.rule for f in report.all_findings()]
    f = found[0]
    assert f.location.sheet == "All" and f.location.cell == "B2"
    assert f.related.file == "t.xlsx" and f.related.sheet == "Adults" and f.related.cell == "B2"


def test_nested_bands_within_each_region():
    a = table("a.csv", ["region", "age", "count"],
              [["North", "16-24", 100], ["North", "25-34", 200],
               ["South", "16-24", 300], ["South", "25-34", 400]])  # fmt: skip
    b = table("b.csv", ["region", "age", "count"],
              [["North", "16-29", 150], ["North", "30-34", 150],
               ["South", "16-29", 306], ["South", "30-34", 394]])  # fmt: skip
    found = rules(secondary_findings([a], [b], POLICY))
    # South's 25-29 band holds 6 (306 - 300); North's holds 50; all ages together hold 56.
    assert found and all("region=South" in f.message for f in found)
    assert any("25-29 group of 6" in f.message for f in found)


def test_many_tables_of_one_shape_list_a_few_findings_each_and_count_the_rest(monkeypatch):
    """Hundreds of one-row tables, each a few apart from every other: a report listing every
    pair would run to gigabytes. Each table lists the first few and one blocking summary counts
    the rest and the tables they are against; the verdict is unchanged."""
    from include.checks import secondary

    n = secondary.DIFFERENCING_LISTED

    tables = [table(f"t{i}.csv", ["region", "count"], [["North", 100 + i % 9], ["South", 200]])
              for i in range(80)]  # fmt: skip
    capped = [
        f for f in rules(secondary_findings(tables, [], POLICY)) if f.location.file == "t0.csv"
    ]
    monkeypatch.setattr(secondary, "DIFFERENCING_LISTED", 10**9)
    every = [
        f for f in rules(secondary_findings(tables, [], POLICY)) if f.location.file == "t0.csv"
    ]
    assert len(every) > 100
    *listed, summary = capped
    assert [f.to_dict() for f in listed] == [f.to_dict() for f in every[:n]]
    assert summary.kind == "summary" and str(summary.severity) == "block"
    others = {f.related.file for f in every[n:]}
    assert summary.message.startswith(
        f"{len(every) - n:,} more differencing findings against {len(others):,} other tables"
    )
    few = tables[:3]
    assert not [f for f in rules(secondary_findings(few, [], POLICY)) if f.kind == "summary"]
