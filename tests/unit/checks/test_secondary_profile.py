"""TableProfile: what a table is to the secondary rules, its JSON round trip, the engine's and
`srs check --released`'s use of it."""

from __future__ import annotations

import json
from pathlib import Path

from include.checks.command import main as srs_check
from include.checks.engine import check_path
from include.checks.policy import CheckPolicy
from include.checks.table_profile import MAX_PROFILE_ROWS, TableProfile, profile_tables

from .conftest import make_xlsx

POLICY = CheckPolicy(threshold=10)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_long_csv_profile_and_json_round_trip(tmp_path):
    path = write(tmp_path / "t.csv",
                 "region,age,count,percent\nNorth,16-24,25,12.5\nNorth,25-34,*,\n"
                 "North,Total,60,30.0\nSouth,16-24,\"1,040\",20\n")  # fmt: skip
    (p,) = profile_tables(path, "STATS-0001")
    assert p.dimensions == ("region", "age") and p.counts == ("count",)
    assert p.rates == ("percent",) and p.totals == {"age": "Total"}
    assert p.categories["age"] == ("16-24", "25-34", "Total")
    assert p.suppressed == ((("North", "25-34"), "count", "*"),)
    assert p.by_key()[("South", "16-24")].values["count"] == 1040
    assert p.source == "STATS-0001" and p.file == "t.csv" and len(p.sha256) == 64
    data = json.loads(json.dumps(p.to_dict()))
    assert set(data) == {"source", "file", "sheet", "sha256", "dimensions", "categories",
                         "counts", "magnitudes", "totals", "cells"}  # fmt: skip
    assert TableProfile.from_dict(data) == p


def test_wide_crosstab_is_melted(tmp_path):
    path = write(tmp_path / "w.csv", "sex,Male,Female,Total\nA,10,15,25\nB,x,20,30\n")
    (p,) = profile_tables(path, "")
    assert p.wide and p.dimensions == ("sex", "(column)") and p.counts == ("count",)
    assert p.totals == {"(column)": "Total"}
    assert p.suppressed == ((("B", "Male"), "count", "x"),)
    assert p.cell_ref(("B", "Male"), "count") == "row 3, column 'Male'"


def test_each_visible_sheet_of_a_workbook(tmp_path):
    path = make_xlsx(tmp_path / "t.xlsx", rows=[["region", "count"], ["North", 120], ["South", 7]])
    (p,) = profile_tables(path, "STATS-2")
    assert p.sheet == "Table" and p.letters["count"] == "B"
    assert p.cell_ref(("South",), "count") == "B3"


def test_record_level_and_non_numeric_tables_are_not_profiled(tmp_path):
    rows = "\n".join(f"p{i},{i % 7}" for i in range(MAX_PROFILE_ROWS + 1))
    assert profile_tables(write(tmp_path / "big.csv", "id,count\n" + rows + "\n"), "") == []
    assert profile_tables(write(tmp_path / "words.csv", "a,b\nx,y\n"), "") == []


def test_engine_skips_incoming_and_supporting_tables(tmp_path):
    write(tmp_path / "t.csv", "region,count\nNorth,*\nSouth,120\nTotal,123\n")
    assert check_path(tmp_path, POLICY).tables
    incoming = check_path(tmp_path, POLICY, incoming=True)
    assert not incoming.tables and not any(
        f.rule == "suppression_recoverable" for f in incoming.all_findings()
    )
    supporting = check_path(tmp_path, POLICY, roles={"t.csv": "supporting"})
    assert not supporting.tables


def test_srs_check_released_folder(tmp_path, capsys):
    released = tmp_path / "released"
    write(released / "sub" / "by_region.csv", "region,count\nNorth,120\nSouth,200\n")
    req = tmp_path / "req"
    write(req / "by_region_v2.csv", "region,count\nNorth,115\nSouth,200\n")
    code = srs_check([str(req), "--released", str(released), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["verdict"] == "fail"
    hits = [f for fr in report["files"] for f in fr["findings"] if f["rule"] == "differencing"]
    assert {h["kind"] for h in hits} == {"cell", "total"}  # North, and so the total, by 5
    (hit,) = [h for h in hits if h["kind"] == "cell"]
    assert hit["related"]["source"] == str(released)
    assert hit["related"]["file"] == "sub/by_region.csv" and hit["related"]["cell"] == "row 2"
    assert hit["related"]["compare"] == [["region=North", "115", "120"]]
    # Control: without the released folder the same request passes.
    assert srs_check([str(req), "--format", "json"]) == 0
    capsys.readouterr()
    assert srs_check([str(req), "--released", str(tmp_path / "missing")]) == 2


def test_a_failure_of_the_secondary_rules_is_a_review_finding_not_a_crash(tmp_path, monkeypatch):
    from include.checks import secondary

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(secondary, "secondary_findings", broken)
    write(tmp_path / "t.csv", "region,count\nNorth,120\nSouth,200\n")
    report = check_path(tmp_path, POLICY)
    (f,) = [f for f in report.all_findings() if f.rule == "differencing"]
    assert f.kind == "error" and str(f.severity) == "review" and "boom" in f.message
    assert [fr.path for fr in report.files] == ["t.csv"]


def test_record_level_workbooks_are_not_read(tmp_path, monkeypatch):
    import openpyxl

    from include.checks import tabular

    rows = [["id", "count"]] + [[f"p{i}", i % 7] for i in range(MAX_PROFILE_ROWS + 1)]
    for write_only in (False, True):  # with a dimension element, and without (write-only)
        wb = openpyxl.Workbook(write_only=write_only)
        ws = wb.create_sheet("Data") if write_only else wb.active
        for row in rows:
            ws.append(row)
        path = tmp_path / f"big_{write_only}.xlsx"
        wb.save(path)
        monkeypatch.setattr(
            tabular, "_xlsx_sources", lambda p: (_ for _ in ()).throw(AssertionError)
        )
        assert profile_tables(path, "") == []
